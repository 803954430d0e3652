"""A slow disk for one node: its data dir on ext4 over a loop device (backed by a file on
the node's tmpfs), and a blkio cgroup that caps the writes per second the node may issue
to that device. Throttled fsyncs take tens of milliseconds to seconds, as on a failing or
overloaded disk; buffered writes and reads stay fast. Needs the cgroup v1 blkio
controller with throttling (CONFIG_BLK_DEV_THROTTLING)."""

import os
import time
from pathlib import Path

from net import HarnessError, sh


def blkio_root() -> Path:
    for line in Path("/proc/mounts").read_text().splitlines():
        _, mount_point, fs_type, options = line.split()[:4]
        if fs_type == "cgroup" and "blkio" in options.split(","):
            root = Path(mount_point)
            if (root / "blkio.throttle.write_iops_device").exists():
                return root
    raise HarnessError("the slow-disk nemesis needs the cgroup v1 blkio controller with "
                       "throttling (blkio.throttle.write_iops_device); none is mounted")


class LoopDisk:
    """ext4 on a loop device whose image lives in `under`; mounted at under/fs."""

    def __init__(self, under: Path, size_mib: int):
        self.image = under / "disk.img"
        self.mount_point = under / "fs"
        self.device = None
        sh("truncate", "-s", f"{size_mib}M", self.image)
        sh("mkfs.ext4", "-q", "-F", self.image)
        self.device = sh("losetup", "-f", "--show", self.image).stdout.strip()
        self.mount_point.mkdir()
        sh("mount", self.device, self.mount_point)
        self.major_minor = sh("lsblk", "-dno", "MAJ:MIN", self.device).stdout.strip()

    def close(self):
        # The node was just killed: its files may close a moment later.
        for _ in range(50):
            if sh("umount", self.mount_point, check=False).returncode == 0:
                break
            time.sleep(0.1)
        if self.device:
            sh("losetup", "-d", self.device, check=False)
            self.device = None


class Throttle:
    """One blkio cgroup per run; a process moved in is held to `iops` writes per second on
    the given device, and moved back to the root cgroup at heal."""

    def __init__(self, tag: str):
        self.root = blkio_root()
        self.group = self.root / f"chaos-{tag}"
        self.group.mkdir()

    def slow(self, pid: int, major_minor: str, iops: int):
        (self.group / "blkio.throttle.write_iops_device").write_text(f"{major_minor} {iops}\n")
        self._move(pid, self.group)

    def release(self, pid: int):
        self._move(pid, self.root)

    def _move(self, pid, group):
        try:
            (group / "cgroup.procs").write_text(f"{pid}\n")
        except ProcessLookupError:
            pass  # the node died meanwhile

    def close(self):
        for pid in (self.group / "cgroup.procs").read_text().split():
            self._move(int(pid), self.root)
        for _ in range(50):
            try:
                os.rmdir(self.group)
                return
            except OSError:
                time.sleep(0.1)
