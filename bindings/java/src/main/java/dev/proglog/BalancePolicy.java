package dev.proglog;

/** Where a {@link Client}'s reads go. Writes always go to the leader. */
public enum BalancePolicy {
  /**
   * Reads rotate over the followers (the leader when alone); a read of a record a follower has not
   * yet applied is asked again of the leader.
   */
  FOLLOWER_READS(proglog_balance_policy.PROGLOG_BALANCE_FOLLOWER_READS),
  /** Reads go to the leader too. */
  LEADER(proglog_balance_policy.PROGLOG_BALANCE_LEADER);

  final int value;

  BalancePolicy(int value) {
    this.value = value;
  }
}
