package dev.proglog;

/** How a {@link Client} spreads calls over its addresses. */
public enum BalancePolicy {
  /** Every call goes to the first address that answers; the others are fallbacks. */
  FIRST_AVAILABLE(proglog_balance_policy.PROGLOG_BALANCE_FIRST_AVAILABLE),
  /** Reads rotate over all addresses; writes go to the leader. */
  ROUND_ROBIN(proglog_balance_policy.PROGLOG_BALANCE_ROUND_ROBIN);

  final int value;

  BalancePolicy(int value) {
    this.value = value;
  }
}
