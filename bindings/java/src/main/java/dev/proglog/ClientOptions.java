package dev.proglog;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * What {@link Client#open} needs: at least one server address, and optionally a deadline
 * per call, a balance policy and TLS. Every setting left alone is the C library's default
 * (the binding passes "unset" through, it does not repeat the library's numbers).
 *
 * <pre>{@code
 * new ClientOptions().addresses("127.0.0.1:8400").timeout(Duration.ofSeconds(5))
 * }</pre>
 */
public final class ClientOptions {
  private final List<String> addresses = new ArrayList<>();
  private Long timeoutMs; // null: the library default
  private BalancePolicy balancePolicy;
  private boolean tls;
  private String tlsCaFile;
  private String tlsCertFile;
  private String tlsKeyFile;
  private String tlsServerName;

  /**
   * Adds "host:port" server addresses.
   *
   * @param more addresses of any servers of the cluster
   * @return these options
   */
  public ClientOptions addresses(String... more) {
    for (String address : more) {
      addresses.add(Objects.requireNonNull(address, "address"));
    }
    return this;
  }

  /**
   * Adds "host:port" server addresses.
   *
   * @param more addresses of any servers of the cluster
   * @return these options
   */
  public ClientOptions addresses(List<String> more) {
    return addresses(more.toArray(new String[0]));
  }

  /**
   * The deadline of each call (whole milliseconds; at least 1 ms).
   *
   * @param timeout the deadline, retries included
   * @return these options
   */
  public ClientOptions timeout(Duration timeout) {
    long ms = timeout.toMillis();
    if (ms <= 0) {
      throw new IllegalArgumentException("timeout must be at least 1 ms: " + timeout);
    }
    timeoutMs = ms;
    return this;
  }

  /**
   * Calls have no deadline.
   *
   * @return these options
   */
  public ClientOptions noTimeout() {
    timeoutMs = -1L;
    return this;
  }

  /**
   * Which servers serve reads; writes always go to the leader.
   *
   * @param policy the policy
   * @return these options
   */
  public ClientOptions balancePolicy(BalancePolicy policy) {
    balancePolicy = Objects.requireNonNull(policy, "policy");
    return this;
  }

  /**
   * Uses TLS for every connection, verifying servers against the system's roots.
   *
   * @return these options
   */
  public ClientOptions tls() {
    tls = true;
    return this;
  }

  /**
   * Uses mutual TLS: {@code caFile} verifies the servers (null: the system's roots), and the
   * client presents {@code certFile} with {@code keyFile} (both null: no certificate). PEM.
   *
   * @param caFile the CA bundle, or null
   * @param certFile the client certificate, or null
   * @param keyFile its private key, or null
   * @return these options
   */
  public ClientOptions tls(String caFile, String certFile, String keyFile) {
    tls = true;
    tlsCaFile = caFile;
    tlsCertFile = certFile;
    tlsKeyFile = keyFile;
    return this;
  }

  /**
   * The name to verify in the server's certificate, instead of the address's host.
   *
   * @param name the name
   * @return these options
   */
  public ClientOptions tlsServerName(String name) {
    tlsServerName = name;
    return this;
  }

  List<String> addressList() {
    return List.copyOf(addresses);
  }

  /** Fills a C options struct that proglog_client_options_init has set to the defaults. */
  void fill(NativeClientOptions opts) {
    opts.setAddressList(addresses.toArray(new String[0]));
    if (timeoutMs != null) {
      opts.setTimeout_ms(timeoutMs);
    }
    if (balancePolicy != null) {
      opts.setBalance_policy(balancePolicy.value);
    }
    if (tls) {
      opts.setTls(1);
      opts.setTls_ca_file(tlsCaFile);
      opts.setTls_cert_file(tlsCertFile);
      opts.setTls_key_file(tlsKeyFile);
    }
    if (tlsServerName != null) {
      opts.setTls_server_name(tlsServerName);
    }
  }
}
