"""fluxdump's shutdown dump for flux-modprobe(1) rc3.

Takes the place of flux-core's "content-dump" task (it provides the same
service at a higher priority). When the content store is a content.sqlite in
the statedir, nothing is dumped while the broker is still serving the store:
the dump runs after content-sqlite has been unloaded (the KVS has written its
final checkpoint, the content cache has been flushed and the database is
closed), reading content.sqlite directly with fluxdump's flux-dump
(``--store STATEDIR/content.sqlite --checkpoint``). The archive gets the same
name as flux-core's (content.dump=auto: STATEDIR/dump/YYYYMMDD_HHMMSS.tgz and a
dump/RESTORE link to it; otherwise the path content.dump names) and the same
options' meaning (--ignore-failed-read, --sd-notify, --quiet).

Any other store (the content-files backend, no content.sqlite, no flux-dump to
run) gets flux-core's own dump through the broker, before the backing module is
unloaded. Either way one line in the broker log (appname "fluxdump") says which
path was taken; a failure is logged at error level and fails rc3.

flux-dump is found, in this order: ``node DIR/dist/cli/flux-dump.js`` where DIR
is the fluxdump package this file belongs to (symlinks to this file are
followed; node from $FLUXDUMP_NODE, else from PATH, with the settings on the
script's first line), then ``flux-dump`` on PATH.
"""

import os
import shlex
import shutil
import subprocess
import syslog
import time
from datetime import datetime
from pathlib import Path

import flux
from flux.modprobe import task

# flux-core's tasks have priority 100; a higher one makes ours the provider.
PRIORITY = 1000


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


def _dump_target(context):
    """(dumpfile, dumplink) as flux-core names them for content.dump."""
    dumpfile = context.attr_get("content.dump")
    if dumpfile != "auto":
        return Path(dumpfile), None
    statedir = "."
    if context.attr_get("statedir-cleanup") == "0":
        statedir = context.attr_get("statedir")
    path = Path(statedir) / "dump"
    path.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
    return path / f"{stamp}.tgz", path / "RESTORE"


def _link(dumpfile, dumplink):
    """Point dump/RESTORE at the new archive (replacing an older link at once)."""
    if dumplink is None:
        return
    tmp = dumplink.with_name(f".RESTORE.{os.getpid()}")
    if tmp.is_symlink():
        tmp.unlink()
    os.symlink(dumpfile.name, tmp)
    os.replace(tmp, dumplink)


def _offline_store(context):
    """(content.sqlite path, None) when it can be dumped offline, else (None, why)."""
    backing = context.attr_get("content.backing-module") or "content-sqlite"
    if backing != "content-sqlite":
        return None, f"the backing module is {backing}, not content-sqlite"
    statedir = context.attr_get("statedir")
    if not statedir:
        return None, "the statedir attribute is not set"
    db = Path(statedir) / "content.sqlite"
    if not db.is_file():
        return None, f"{db} does not exist"
    return db, None


@task(
    "fluxdump-content-dump",
    ranks="0",
    provides=["content-dump"],
    priority=PRIORITY,
    after=["content-flush"],
    before=["content-backing"],
    needs_attrs=["content.dump"],
)
def fluxdump_content_dump(context):
    """Choose the path; dump through the broker here only when offline cannot work."""
    dumpfile, dumplink = _dump_target(context)
    db, why = _offline_store(context)
    cmd = _command("flux-dump")
    if db is not None and cmd is None:
        db, why = None, "flux-dump was not found (see docs/modprobe.md)"
    if db is not None:
        context.set("fluxdump.dump", (cmd, db, dumpfile, dumplink))
        _log(
            syslog.LOG_INFO,
            f"content.dump: offline dump of {db} to {dumpfile} "
            "once content-sqlite is unloaded",
        )
        return
    _log(
        syslog.LOG_WARNING,
        f"content.dump: {why}: dumping to {dumpfile} through the broker "
        "with flux dump, as flux-core does",
    )
    t0 = time.monotonic()
    context.bash(
        "flux dump --sd-notify --quiet --ignore-failed-read --no-cache "
        f"--maxreqs=128 --checkpoint {shlex.quote(str(dumpfile))}"
    )
    _link(dumpfile, dumplink)
    _log(
        syslog.LOG_INFO,
        f"content.dump: flux dump wrote {dumpfile} "
        f"in {time.monotonic() - t0:.2f}s",
    )


@task(
    "fluxdump-offline-dump",
    ranks="0",
    after=["content-backing", "content-dump"],
    needs_attrs=["content.dump"],
)
def fluxdump_offline_dump(context):
    """Dump the closed content.sqlite after content-sqlite has been unloaded."""
    plan = context.get("fluxdump.dump")
    if plan is None:
        return
    cmd, db, dumpfile, dumplink = plan
    t0 = time.monotonic()
    argv = [
        *cmd,
        "--sd-notify",
        "--quiet",
        "--ignore-failed-read",
        "--checkpoint",
        f"--store={db}",
        str(dumpfile),
    ]
    proc = subprocess.run(argv, stderr=subprocess.PIPE, text=True)
    if proc.stderr:
        # keys skipped under --ignore-failed-read are reported here
        for line in proc.stderr.splitlines():
            _log(syslog.LOG_WARNING, line)
    if proc.returncode != 0:
        msg = f"content.dump: offline dump of {db} to {dumpfile} failed (exit {proc.returncode})"
        _log(syslog.LOG_ERR, msg)
        raise RuntimeError(msg)
    _link(dumpfile, dumplink)
    _log(
        syslog.LOG_INFO,
        f"content.dump: dumped {db} to {dumpfile} offline "
        f"in {time.monotonic() - t0:.2f}s",
    )
