package dev.proglog;

/** One server of the cluster, as {@link Client#servers()} lists it. */
public record Server(String id, String rpcAddr, boolean isLeader) {}
