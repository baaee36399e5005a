"""`seriesbot`: one entry point; each subcommand is a thin call into its stage."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from bot import cli_ops as ops
from bot import cli_outbox
from bot.bootstrap import command_settings as _settings
from bot.bootstrap import prepare as _prepare
from bot.errors import ConfigError
from bot.settings import set_settings
from bot.web import cli as web_cli

log = logging.getLogger("seriesbot")


def _setup_logging(level: str = "INFO", verbose: bool = False) -> None:
    from bot.logs import setup

    setup(level, verbose=verbose)


def cmd_smtp(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _prepare(settings)
    from bot.receive.smtp import start_smtp

    controller, handler = start_smtp(settings)
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        handler.accepting = False  # new transactions get a 421: the list server retries elsewhere/later
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(f"seriesbot smtp: listening on {settings.smtp_in.host}:{settings.smtp_in.port}", flush=True)
    stop.wait()
    time.sleep(0.5)  # let transactions in DATA finish their commit
    controller.stop()
    return 0


def cmd_web(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _prepare(settings)
    import uvicorn

    from bot.web.app import create_app

    print(f"seriesbot web: {settings.public_url}", flush=True)
    uvicorn.run(create_app(settings), host=settings.web.host, port=settings.web.port, log_level="warning")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if args.name:  # each worker process has its own name: its leases and its build directories
        from dataclasses import replace

        settings = replace(settings, worker=replace(settings.worker, name=args.name))
        set_settings(settings)
    _prepare(settings)
    from bot import queue
    from bot.reconcile import start_reconciler

    app = queue.configure(settings)
    app.conf.include = ["bot.tasks", "workers.tasks"]
    wanted = args.queues.split(",") if args.queues else ["light", "build"]
    queues: list[str] = []
    for q in wanted:
        if q == "light":
            queues.append(queue.LIGHT_QUEUE)
        elif q == "build":
            queues.extend(p.queue for p in settings.projects.values())
        elif q.startswith("build:"):
            queues.append(settings.project(q.split(":", 1)[1]).queue)
        else:
            raise ConfigError(f"unknown queue {q!r}: use light, build or build:<project>")
    from celery.signals import worker_shutting_down

    from bot.health import SHUTTING_DOWN, start_heartbeat

    stop = threading.Event()
    if queue.LIGHT_QUEUE in queues and not args.no_reconcile:
        start_reconciler(settings, stop)
    if queue.LIGHT_QUEUE in queues and not args.no_follow:
        from bot.receive.follow import start_follower

        start_follower(settings, stop)  # projects with an inbox_url: their archive is read here too
    name = args.name or f"{'-'.join(wanted).replace(':', '_')}.{settings.worker_name}.{os.getpid()}"
    start_heartbeat(settings, name, queues, stop)

    @worker_shutting_down.connect(weak=False)
    def _graceful(**_kwargs: object) -> None:
        # SIGTERM: the current build step finishes, then the run is handed back (see workers.pipeline)
        SHUTTING_DOWN.set()

    argv = ["worker", "-Q", ",".join(queues), "-n", f"{name}@%h", "--loglevel", args.loglevel,
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "--pool", args.pool, "--concurrency", str(args.concurrency)]
    print(f"seriesbot worker {name}: queues {', '.join(queues)}", flush=True)
    code: object = 0
    try:
        app.worker_main(argv)
    except SystemExit as exc:
        code = exc.code
    finally:
        stop.set()
    if not SHUTTING_DOWN.is_set():
        # Celery gave up on its own (e.g. "Unrecoverable error" when an ack races a broker restart):
        # start afresh rather than leave this queue without a consumer. Nothing is lost meanwhile:
        # the database holds the work and the reconciler re-enqueues it.
        log.error("event=worker-exited-unexpectedly code=%s action=restart", code)
        time.sleep(2)
        os.execv(sys.executable, [sys.executable, "-m", "bot.cli", *sys.argv[1:]])
    return 0 if code in (None, 0) else 1


def _own_script() -> str:
    """How to call `seriesbot` from a shell that has not activated the virtualenv."""
    script = Path(sys.executable).parent / "seriesbot"
    if not script.exists():
        return "seriesbot"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def cmd_serve(args: argparse.Namespace) -> int:
    """Everything on one machine: SMTP, dashboard, a light and a build worker, as child processes."""
    settings = _settings(args)
    _prepare(settings)
    exe = [sys.executable, "-m", "bot.cli"] + (["--config", str(settings.config_path)] if args.config else []) \
        + (["--verbose"] if args.verbose else [])
    children: list[subprocess.Popen[bytes]] = []
    sink = None
    if not args.no_sink and settings.smtp_out.host in ("127.0.0.1", "localhost") and \
            _port_free(settings.smtp_out.host, settings.smtp_out.port):
        from bot.demo.listserver import start_list_server

        sink, _state = start_list_server(settings.smtp_out.host, settings.smtp_out.port,
                                         mbox_path=settings.data_dir / "list-archive.mbox")
    for part in (["smtp"], ["web"], ["worker", "--queues", "light", "--pool", "threads", "--concurrency", "4"],
                 ["worker", "--queues", "build", "--pool", "solo", "--concurrency", "1", "--no-reconcile"]):
        children.append(subprocess.Popen([*exe, *part]))
    project = next(iter(settings.projects.values()), None)
    print("\n".join([
        "",
        "seriesbot is running (embedded default: SQLite + a filesystem Celery broker, no servers needed).",
        f"  SMTP in:    {settings.smtp_in.host}:{settings.smtp_in.port}",
        f"  Dashboard:  {settings.public_url}/",
        f"  Data:       {settings.data_dir}",
        (f"  Replies go to the local list archive {settings.data_dir / 'list-archive.mbox'} "
         f"(relay on {settings.smtp_out.host}:{settings.smtp_out.port})") if sink else
        f"  Replies go to the relay {settings.smtp_out.host}:{settings.smtp_out.port}",
        "",
        "Post the bundled sample series with git send-email:",
        f"  {_own_script()}{' --config ' + str(settings.config_path) if args.config else ''} demo-send",
        (f"  (project {project.name}: list {project.list_address})" if project else ""),
        "",
    ]), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            for child in children:
                if child.poll() is not None:
                    log.error("event=child-exited argv=%s code=%s", child.args, child.returncode)
                    stop.set()
    finally:
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=20)
            except subprocess.TimeoutExpired:
                child.kill()
        if sink:
            sink.stop()
    return 0


def cmd_demo_send(args: argparse.Namespace) -> int:
    settings = _settings(args)
    from bot.demo.upstream import send_email_argv, series_files

    project = settings.project(args.project) if args.project else next(p for p in settings.projects.values() if p.demo)
    files = series_files()
    argv = send_email_argv(files, settings.smtp_in.host, settings.smtp_in.port, project.list_address)
    print("+ " + " ".join(argv), flush=True)
    return subprocess.call(argv)


def cmd_config_check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    print(f"config ok: {settings.config_path}; projects: {', '.join(settings.projects) or 'none'}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seriesbot", description=__doc__)
    parser.add_argument("--config", default=None, help="global TOML file (default: $SERIESBOT_CONFIG or "
                                                       "config/seriesbot.toml)")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--verbose", action="store_true", help="also library chatter (Alembic's migration log)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="SMTP + dashboard + workers, all in one").add_argument(
        "--no-sink", action="store_true", help="do not start the local list archive on the relay port")
    sub.add_parser("smtp", help="the SMTP/LMTP front alone")
    sub.add_parser("web", help="the dashboard and JSON API alone")
    w = sub.add_parser("worker", help="a Celery worker (light queue, build queues, or both)")
    w.add_argument("--queues", default="", help="comma list: light, build, build:<project> (default: light,build)")
    w.add_argument("--pool", default="threads", choices=["threads", "solo", "prefork"])
    w.add_argument("--concurrency", type=int, default=2)
    w.add_argument("--name", default="")
    w.add_argument("--loglevel", default="INFO")
    w.add_argument("--no-reconcile", action="store_true")
    w.add_argument("--no-follow", action="store_true", help="do not read the projects' public-inbox archives")
    d = sub.add_parser("demo-send", help="post the bundled sample series with git send-email")
    d.add_argument("--project", default="")
    imp = sub.add_parser("import", help="import mail through the same path as SMTP").add_subparsers(
        dest="import_command", required=True)
    sub.add_parser("status", help="queues, workers, leases and stuck items").set_defaults(handler=ops.cmd_status)
    sb = sub.add_parser("subscribe", help="ask the project's list server to subscribe the bot")
    sb.add_argument("project")
    sb.set_defaults(handler=ops.cmd_subscribe)
    ub = sub.add_parser("unsubscribe", help="ask the project's list server to unsubscribe the bot")
    ub.add_argument("project")
    ub.set_defaults(handler=ops.cmd_subscribe)
    im = imp.add_parser("mbox", help="an mbox file or a maildir")
    im.add_argument("path")
    im.add_argument("--project", default="", help="project for mail without a List-Id")
    fo = sub.add_parser("follow", help="read the projects' public-inbox archives (inbox_url) into the bot")
    fo.add_argument("--project", default="", help="only this project")
    fo.add_argument("--once", action="store_true", help="one round, then exit (default: follow until stopped)")
    fo.add_argument("--batch", type=int, default=200, help="commits stored between two cursor moves")
    fo.set_defaults(handler=ops.cmd_follow)
    il = imp.add_parser("lore", help="a whole thread from a public-inbox server (project lore_url)")
    il.add_argument("message", help="Message-ID or message URL")
    il.add_argument("--project", default="")
    for p in (im, il):  # imported mail is history (no run, no mail, no command) unless asked
        p.add_argument("--test", action="store_true", help="test and report imported series like new mail")
        p.add_argument("--since", default=None, metavar="DATE", help="mail dated from DATE on is new, older is history")
    importlib.import_module("workers.cli").register(sub)  # `rules list|check`, by name: bot never imports workers
    cli_outbox.register(sub)
    web_cli.register(sub)  # `seriesbot series`: the dashboard's query language on the command line
    config = sub.add_parser("config", help="configuration").add_subparsers(dest="config_command", required=True)
    config.add_parser("check", help="load and validate the configuration")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.log_level, args.verbose)
    handlers = {
        "serve": cmd_serve, "smtp": cmd_smtp, "web": cmd_web, "worker": cmd_worker, "demo-send": cmd_demo_send,
    }
    try:
        if hasattr(args, "handler"):
            return args.handler(args)
        if args.command == "import":
            return ops.cmd_import(args)
        if args.command == "config":
            return cmd_config_check(args)
        return handlers[args.command](args)
    except ConfigError as exc:
        print(f"seriesbot: configuration error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
