"""fluxdump's start-up restore for flux-modprobe(1) rc1.

Takes the place of flux-core's "check-restore" and "restore" tasks (it
provides both services at a higher priority). When content.restore is set
(a path, or "auto": the archive the dump/RESTORE link points to) and the
content store is content.sqlite, the archive is restored before content-sqlite
is loaded, offline, by fluxdump's flux-restore (``--checkpoint --store
NEWFILE``) into a new database beside content.sqlite. Only when that database
is complete is it renamed over content.sqlite; content-sqlite then loads it.
flux-core's own tasks truncate content.sqlite first and restore through the
broker, so a failed restore loses the old store; here a failed restore (a
corrupt or missing archive) leaves content.sqlite as it was, logs an error, and
the instance starts from the old store (the dump/RESTORE link is kept so the
restore can be retried). After a successful restore the dump/RESTORE link is
removed and the "dump_restored" flag is set, as flux-core's restore task does,
so that rc1 does not run "flux fsck --repair" over the fresh store.
--size-limit=100M is passed, as flux-core does (larger blobs are skipped).

Any other store (the content-files backend, no statedir, no flux-restore to
run) gets flux-core's behaviour: content-sqlite's truncate option, then
"flux restore --checkpoint" through the broker. Either way one line in the
broker log (appname "fluxdump") says which path was taken.

flux-restore is found, in this order: ``node DIR/dist/cli/flux-restore.js``
where DIR is the fluxdump package this file belongs to (symlinks to this file
are followed; node from $FLUXDUMP_NODE, else from PATH, with the settings on
the script's first line), then ``flux-restore``
on PATH.
"""

import json
import os
import shlex
import shutil
import sqlite3
import subprocess
import syslog
import time
from pathlib import Path

import flux
from flux.modprobe import task

# flux-core's tasks have priority 100; a higher one makes ours the provider.
PRIORITY = 1000
SIZE_LIMIT = "100M"


def _log(level, msg):
    # A handle of our own, so that the appname does not change the log lines
    # of other tasks sharing the thread's handle.
    handle = flux.Flux()
    handle.log_set_appname("fluxdump")
    handle.log(level, msg)


def _shebang(script):
    """(environment assignments, node options) from the script's ``env -S`` line.

    The command is tuned there (e.g. flux-dump's libuv pool size, which its
    gzip compression needs); running it with an explicit node must keep that.
    """
    try:
        with open(script, encoding="utf-8") as f:
            line = f.readline().strip()
    except OSError:
        return [], []
    words = line[2:].split() if line.startswith("#!") else []
    if "-S" not in words:
        return [], []
    words = words[words.index("-S") + 1 :]
    assigns = []
    while words and "=" in words[0]:
        assigns.append(words.pop(0))
    if not words or os.path.basename(words[0]) != "node":
        return [], []
    return assigns, words[1:]


def _command(name):
    """The argv prefix that runs fluxdump's NAME, or None."""
    package = Path(__file__).resolve().parent.parent.parent
    script = package / "dist" / "cli" / f"{name}.js"
    if script.is_file():
        node = os.environ.get("FLUXDUMP_NODE") or shutil.which("node")
        if node:
            assigns, options = _shebang(script)
            prefix = ["env", *assigns] if assigns else []
            return [*prefix, node, *options, str(script)]
    found = shutil.which(name)
    return [found] if found else None


def _restore_source(context):
    """(dumpfile, dumplink) for content.restore, as flux-core resolves them."""
    dumpfile = context.attr_get("content.restore")
    if dumpfile != "auto":
        return Path(dumpfile), None
    statedir = "."
    if context.attr_get("statedir-cleanup") == "0":
        statedir = context.attr_get("statedir")
    dumplink = Path(statedir) / "dump" / "RESTORE"
    if not dumplink.is_symlink():
        return None, None
    return dumplink.resolve(), dumplink


def _offline_store(context):
    """(content.sqlite path, None) when it can be restored offline, else (None, why)."""
    backing = context.attr_get("content.backing-module") or "content-sqlite"
    if backing != "content-sqlite":
        return None, f"the backing module is {backing}, not content-sqlite"
    statedir = context.attr_get("statedir")
    if not statedir or not Path(statedir).is_dir():
        return None, "the statedir attribute does not name a directory"
    return Path(statedir) / "content.sqlite", None


def _rootref(db):
    """The newest checkpoint's rootref in content.sqlite DB, for the log line."""
    try:
        # immutable: read without locks or a -shm file (nothing writes it now)
        conn = sqlite3.connect(f"file:{db}?immutable=1", uri=True)
        try:
            try:
                row = conn.execute(
                    "SELECT value FROM checkpt_v2 ORDER BY id DESC LIMIT 1"
                ).fetchone()
            except sqlite3.Error:
                row = conn.execute(
                    "SELECT value FROM checkpt WHERE key = 'kvs-primary'"
                ).fetchone()
        finally:
            conn.close()
        return json.loads(row[0])["rootref"]
    except Exception:  # the line is informative only; the restore succeeded
        return "unknown"


def _fsync_dir(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_link(dumplink):
    # as flux-core: only a link whose archive exists is used up
    if dumplink is not None and dumplink.exists():
        dumplink.unlink()


def _restore_offline(context, cmd, db, dumpfile, dumplink):
    if not dumpfile.exists():
        _log(
            syslog.LOG_ERR,
            f"content.restore: {dumpfile} does not exist: nothing restored, "
            f"starting from the existing {db}",
        )
        return
    new = db.with_name(".fluxdump-restore.sqlite")
    # leftovers of a restore that was killed: ours, and flux-restore's private
    # temporary file (.NAME.restore-PID) in which it builds NAME
    stale = [new, Path(f"{new}-wal"), Path(f"{new}-shm")]
    stale += db.parent.glob(f".{new.name}.restore-*")
    for leftover in stale:
        if leftover.exists():
            leftover.unlink()
    hash_type = context.attr_get("content.hash") or "sha1"
    argv = [
        *cmd,
        "--sd-notify",
        "--quiet",
        "--checkpoint",
        f"--size-limit={SIZE_LIMIT}",
        f"--hash={hash_type}",
        f"--store={new}",
        str(dumpfile),
    ]
    _log(syslog.LOG_INFO, f"content.restore: offline restore of {dumpfile} into {db}")
    t0 = time.monotonic()
    proc = subprocess.run(argv, stderr=subprocess.PIPE, text=True)
    lines = proc.stderr.splitlines()
    if proc.returncode != 0 or not new.is_file():
        for leftover in (new, Path(f"{new}-wal"), Path(f"{new}-shm")):
            if leftover.exists():
                leftover.unlink()
        reason = lines[-1] if lines else f"exit {proc.returncode}"
        _log(
            syslog.LOG_ERR,
            f"content.restore: restore of {dumpfile} FAILED ({reason}); "
            f"{db} is left as it was and the instance starts from it",
        )
        return
    for line in lines:  # e.g. blobs skipped by --size-limit
        _log(syslog.LOG_WARNING, line)
    root = _rootref(new)
    # The old database's write-ahead log must not be applied to the new one.
    for stale in (Path(f"{db}-wal"), Path(f"{db}-shm")):
        if stale.exists():
            stale.unlink()
    os.replace(new, db)
    _fsync_dir(db.parent)
    context.set("dump_restored", True)
    _remove_link(dumplink)
    _log(
        syslog.LOG_INFO,
        f"content.restore: restored {dumpfile} offline into {db} "
        f"in {time.monotonic() - t0:.2f}s (root {root})",
    )


@task(
    "fluxdump-check-restore",
    ranks="0",
    provides=["check-restore"],
    priority=PRIORITY,
    before=["content-backing"],
    needs=["content-backing"],
    needs_attrs=["content.restore"],
)
def fluxdump_check_restore(context):
    """Restore offline before content-sqlite loads, or prepare flux-core's way."""
    dumpfile, dumplink = _restore_source(context)
    if dumpfile is None:
        _log(syslog.LOG_INFO, "content.restore=auto: no dump/RESTORE link, nothing to restore")
        return
    db, why = _offline_store(context)
    cmd = _command("flux-restore")
    if db is not None and cmd is None:
        db, why = None, "flux-restore was not found (see docs/modprobe.md)"
    if db is not None:
        _restore_offline(context, cmd, db, dumpfile, dumplink)
        return
    _log(
        syslog.LOG_WARNING,
        f"content.restore: {why}: truncating the store and restoring {dumpfile} "
        "through the broker with flux restore, as flux-core does",
    )
    context.setopt("content-backing", "truncate")
    context.set("fluxdump.restore", (dumpfile, dumplink))


@task(
    "fluxdump-restore",
    ranks="0",
    provides=["restore"],
    priority=PRIORITY,
    before=["kvs"],
    after=["content-backing", "check-restore"],
    requires=["check-restore", "content-backing"],
    needs=["content-backing", "check-restore"],
    needs_attrs=["content.restore"],
)
def fluxdump_restore(context):
    """flux-core's restore through the broker, for stores not restored offline."""
    plan = context.get("fluxdump.restore")
    if plan is None:
        return
    dumpfile, dumplink = plan
    if dumpfile.exists():
        t0 = time.monotonic()
        context.bash(
            "flux restore --sd-notify --quiet --checkpoint "
            f"--size-limit={SIZE_LIMIT} {shlex.quote(str(dumpfile))}"
        )
        context.set("dump_restored", True)
        _log(
            syslog.LOG_INFO,
            f"content.restore: flux restore restored {dumpfile} "
            f"in {time.monotonic() - t0:.2f}s",
        )
    else:
        _log(syslog.LOG_ERR, f"content.restore: {dumpfile} does not exist: nothing restored")
    _remove_link(dumplink)
