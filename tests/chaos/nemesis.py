"""Nemeses: each breaks the cluster for a while, then heals it. A nemesis draws every
choice (targets, durations) from the run's seeded generator and logs what it did, so a run
is replayed by its nemesis name and seed (a target named by role, "the leader", is whichever
node leads at that moment)."""

from net import HarnessError

NEMESES = ["isolate-leader", "split", "bridge", "kill", "pause-leader", "disk-full",
           "loss-delay", "rolling-restart", "slow-disk"]


class Nemesis:
    def __init__(self, kind, cluster, workload, rng, log):
        if kind not in NEMESES:
            raise ValueError(f"unknown nemesis {kind!r}; one of {', '.join(NEMESES)}")
        self.kind = kind
        self.cluster = cluster
        self.net = cluster.net
        self.workload = workload
        self.rng = rng
        self.log = log
        self.down = []  # nodes killed or stopped, to restart at heal
        self.slowed = []  # nodes whose disk is throttled

    def names(self):
        return list(self.net.names)

    def leader_or_any(self):
        leader = self.cluster.leader()
        return leader if leader else self.rng.choice(self.names())

    def fault(self):
        """Applies one fault; returns a description."""
        return getattr(self, "_" + self.kind.replace("-", "_"))()

    def _isolate_leader(self):
        leader = self.leader_or_any()
        others = [n for n in self.names() if n != leader]
        self.net.partition([leader], others)
        return f"isolate leader {leader} from {others}"

    def _split(self):
        names = self.names()
        self.rng.shuffle(names)
        size = 1 if len(names) == 3 else self.rng.choice([1, 2])
        minority, majority = sorted(names[:size]), sorted(names[size:])
        self.net.partition(minority, majority)
        return f"split {minority} | {majority}"

    def _bridge(self):
        names = self.names()
        self.rng.shuffle(names)
        half = (len(names) - 1) // 2
        left, middle, right = sorted(names[:half]), names[half], sorted(names[half + 1:])
        self.net.partition(left, right)
        return f"bridge {left} | {middle} sees both | {right}"

    def _kill(self):
        victim = self.rng.choice(self.names())
        role = "leader " if victim == self.cluster.leader() else ""
        self.cluster.kill(victim)
        self.down.append(victim)
        return f"kill -9 {role}{victim}"

    def _pause_leader(self):
        leader = self.leader_or_any()
        self.cluster.pause(leader)
        return f"SIGSTOP leader {leader}"

    def _disk_full(self):
        target = self.leader_or_any() if self.rng.random() < 0.5 else self.rng.choice(self.names())
        role = "leader " if target == self.cluster.leader() else ""
        self.cluster.fill_disk(target)
        self.down.append(target)
        return f"fill the disk of {role}{target}"

    def _slow_disk(self):
        target = self.leader_or_any() if self.rng.random() < 0.5 else self.rng.choice(self.names())
        role = "leader " if target == self.cluster.leader() else ""
        iops = self.rng.choice([5, 20, 50])
        self.cluster.throttle.slow(self.cluster.procs[target].proc.pid,
                                   self.cluster.disks[target].major_minor, iops)
        self.slowed.append(target)
        return f"slow the disk of {role}{target} to {iops} writes/s"

    def _loss_delay(self):
        delay = self.rng.choice([10, 30, 60])
        jitter = self.rng.choice([5, 20])
        loss = self.rng.choice([0.02, 0.05, 0.10])
        for i, name in enumerate(self.names()):
            self.net.impair(name, delay, jitter, loss, seed=self.rng.randrange(1 << 30))
        return f"every link: delay {delay}ms + up to {jitter}ms jitter, loss {loss:.0%}"

    def _rolling_restart(self):
        order = self.names()
        self.rng.shuffle(order)
        for name in order:
            code = self.cluster.terminate(name)
            self.log(f"  SIGTERM {name}: exit {code}")
            if code != 0:
                raise HarnessError(f"node {name} exited {code} after SIGTERM (expected 0); "
                                   f"see {self.cluster.procs[name].log_path}")
            self.cluster.restart(name)
            self.cluster.wait_healthy(timeout=60)
        return f"rolling SIGTERM restart of {order}"

    def heal(self):
        """Undoes whatever is broken; returns a description."""
        done = []
        self.net.heal_partitions()
        self.net.heal_impairments()
        for name in self.slowed:
            self.cluster.throttle.release(self.cluster.procs[name].proc.pid)
            done.append(f"full speed for the disk of {name}")
        self.slowed.clear()
        for name in list(self.cluster.paused):
            self.cluster.resume(name)
            done.append(f"SIGCONT {name}")
        for name in self.down:
            if name in self.cluster.fillers:
                self.cluster.free_disk(name)
                # A node whose disk filled up resumes after a restart (README).
                if self.cluster.procs[name].alive():
                    self.cluster.kill(name)
                done.append(f"free the disk of {name} and restart it")
            else:
                done.append(f"restart {name}")
            self.cluster.restart(name)
        self.down.clear()
        self.workload.rotate_streams()
        return "heal" + (": " + ", ".join(done) if done else "")
