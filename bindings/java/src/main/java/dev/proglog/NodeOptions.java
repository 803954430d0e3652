package dev.proglog;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * What {@link Node#open} needs ({@code proglog_node_options}): a data directory, and
 * optionally where to serve, storage limits, clustering (Raft and gossip, as {@code proglog
 * serve} runs them), client TLS and an ACL. Every setting left alone is the C library's
 * default; the library checks the combination (for example TLS files come all three or none)
 * and refuses a bad one with {@link InvalidArgumentException}.
 */
public final class NodeOptions {
  private final String dataDir;
  private String nodeName;
  private String rpcHost;
  private int rpcPort;
  private long maxStoreBytes;
  private long maxIndexBytes;
  private long maxRecordBytes;
  private String durability;
  private boolean cluster;
  private String bindAddr;
  private String advertiseHost;
  private final List<String> startJoinAddrs = new ArrayList<>();
  private boolean bootstrap;
  private String gossipKey;
  private long raftHeartbeatIntervalMs;
  private long raftElectionTimeoutMs;
  private String peerTlsCertFile;
  private String peerTlsKeyFile;
  private String peerTlsCaFile;
  private String serverTlsCertFile;
  private String serverTlsKeyFile;
  private String serverTlsCaFile;
  private String aclModelFile;
  private String aclPolicyFile;

  /**
   * Options for a node keeping its log in {@code dataDir} (created if missing).
   *
   * @param dataDir the log's directory
   */
  public NodeOptions(Path dataDir) {
    this.dataDir = Objects.requireNonNull(dataDir, "dataDir").toString();
  }

  /**
   * The node's id in the cluster (default: the host name).
   *
   * @param name the id
   * @return these options
   */
  public NodeOptions nodeName(String name) {
    nodeName = name;
    return this;
  }

  /**
   * The host to serve gRPC on (the library's default is the loopback address).
   *
   * @param host a host name or IP address
   * @return these options
   */
  public NodeOptions rpcHost(String host) {
    rpcHost = host;
    return this;
  }

  /**
   * The gRPC port; 0 (the default) picks a free one (see {@link Node#address()}).
   *
   * @param port the port, or 0
   * @return these options
   */
  public NodeOptions rpcPort(int port) {
    rpcPort = port;
    return this;
  }

  /**
   * A segment rolls when its store file would pass this size.
   *
   * @param bytes the size
   * @return these options
   */
  public NodeOptions maxStoreBytes(long bytes) {
    maxStoreBytes = bytes;
    return this;
  }

  /**
   * A segment rolls when its index file would pass this size.
   *
   * @param bytes the size
   * @return these options
   */
  public NodeOptions maxIndexBytes(long bytes) {
    maxIndexBytes = bytes;
    return this;
  }

  /**
   * The largest record value.
   *
   * @param bytes the size
   * @return these options
   */
  public NodeOptions maxRecordBytes(long bytes) {
    maxRecordBytes = bytes;
    return this;
  }

  /**
   * "always", "never" or "interval:MS", as {@code proglog serve --fsync} takes it.
   *
   * @param mode the mode
   * @return these options
   */
  public NodeOptions durability(String mode) {
    durability = mode;
    return this;
  }

  /**
   * Replicates with Raft and finds members with gossip on {@code bindAddr} ("ip:port"; port
   * 0 picks a free one, see {@link Node#gossipAddress()}). The settings below need it.
   *
   * @param bindAddr the gossip address
   * @return these options
   */
  public NodeOptions cluster(String bindAddr) {
    cluster = true;
    this.bindAddr = Objects.requireNonNull(bindAddr, "bindAddr");
    return this;
  }

  /**
   * The host other nodes and clients use for the RPC port.
   *
   * @param host a host name or IP address
   * @return these options
   */
  public NodeOptions advertiseHost(String host) {
    advertiseHost = host;
    return this;
  }

  /**
   * Gossip addresses of members to join, retried in the background.
   *
   * @param addrs gossip "ip:port" addresses
   * @return these options
   */
  public NodeOptions startJoinAddrs(String... addrs) {
    for (String addr : addrs) {
      startJoinAddrs.add(Objects.requireNonNull(addr, "addr"));
    }
    return this;
  }

  /**
   * Starts a one-voter cluster when the data directory is new.
   *
   * @param bootstrap whether to bootstrap
   * @return these options
   */
  public NodeOptions bootstrap(boolean bootstrap) {
    this.bootstrap = bootstrap;
    return this;
  }

  /**
   * Gossip encryption key, base64 as {@code serf keygen} prints it.
   *
   * @param key 16, 24 or 32 bytes in base64
   * @return these options
   */
  public NodeOptions gossipKey(String key) {
    gossipKey = key;
    return this;
  }

  /**
   * The Raft heartbeat interval (whole milliseconds).
   *
   * @param interval the interval
   * @return these options
   */
  public NodeOptions raftHeartbeatInterval(Duration interval) {
    raftHeartbeatIntervalMs = interval.toMillis();
    return this;
  }

  /**
   * The Raft election timeout (whole milliseconds; at least twice the heartbeat interval).
   *
   * @param timeout the timeout
   * @return these options
   */
  public NodeOptions raftElectionTimeout(Duration timeout) {
    raftElectionTimeoutMs = timeout.toMillis();
    return this;
  }

  /**
   * Mutual TLS for Raft between nodes: PEM certificate, key and CA.
   *
   * @param certFile this node's certificate
   * @param keyFile its private key
   * @param caFile the CA that signs the nodes' certificates
   * @return these options
   */
  public NodeOptions peerTls(Path certFile, Path keyFile, Path caFile) {
    peerTlsCertFile = certFile.toString();
    peerTlsKeyFile = keyFile.toString();
    peerTlsCaFile = caFile.toString();
    return this;
  }

  /**
   * TLS on the RPC port: PEM certificate and key, and the CA that signs client certificates
   * (the port then requires one).
   *
   * @param certFile the RPC port's certificate
   * @param keyFile its private key
   * @param caFile the CA that signs client certificates
   * @return these options
   */
  public NodeOptions serverTls(Path certFile, Path keyFile, Path caFile) {
    serverTlsCertFile = certFile.toString();
    serverTlsKeyFile = keyFile.toString();
    serverTlsCaFile = caFile.toString();
    return this;
  }

  /**
   * An ACL over client certificates' Common Names (casbin model and policy; needs TLS).
   *
   * @param modelFile the casbin-style model
   * @param policyFile the policy lines
   * @return these options
   */
  public NodeOptions acl(Path modelFile, Path policyFile) {
    aclModelFile = modelFile.toString();
    aclPolicyFile = policyFile.toString();
    return this;
  }

  /** Fills a C options struct that proglog_node_options_init has set to the defaults. */
  void fill(NativeNodeOptions opts) {
    opts.setData_dir(dataDir);
    setIfPresent(nodeName, opts::setNode_name);
    setIfPresent(rpcHost, opts::setRpc_host);
    if (rpcPort != 0) {
      opts.setRpc_port(rpcPort);
    }
    setIfNonZero(maxStoreBytes, opts::setMax_store_bytes);
    setIfNonZero(maxIndexBytes, opts::setMax_index_bytes);
    setIfNonZero(maxRecordBytes, opts::setMax_record_bytes);
    setIfPresent(durability, opts::setDurability);
    if (cluster) {
      opts.setCluster(1);
      opts.setBind_addr(bindAddr);
      opts.setStartJoinAddrList(startJoinAddrs.toArray(new String[0]));
      opts.setBootstrap(bootstrap ? 1 : 0);
    }
    setIfPresent(advertiseHost, opts::setAdvertise_host);
    setIfPresent(gossipKey, opts::setGossip_key);
    setIfNonZero(raftHeartbeatIntervalMs, opts::setRaft_heartbeat_interval_ms);
    setIfNonZero(raftElectionTimeoutMs, opts::setRaft_election_timeout_ms);
    setIfPresent(peerTlsCertFile, opts::setPeer_tls_cert_file);
    setIfPresent(peerTlsKeyFile, opts::setPeer_tls_key_file);
    setIfPresent(peerTlsCaFile, opts::setPeer_tls_ca_file);
    setIfPresent(serverTlsCertFile, opts::setServer_tls_cert_file);
    setIfPresent(serverTlsKeyFile, opts::setServer_tls_key_file);
    setIfPresent(serverTlsCaFile, opts::setServer_tls_ca_file);
    setIfPresent(aclModelFile, opts::setAcl_model_file);
    setIfPresent(aclPolicyFile, opts::setAcl_policy_file);
  }

  private static void setIfPresent(String value, java.util.function.Consumer<String> setter) {
    if (value != null) {
      setter.accept(value);
    }
  }

  private static void setIfNonZero(long value, java.util.function.LongConsumer setter) {
    if (value != 0) {
      setter.accept(value);
    }
  }
}
