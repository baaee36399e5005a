"""Load config/*.toml into frozen settings; validate once at start and name the bad key.

No other module reads the environment: secrets and the few deployment overrides
(DATABASE_URL, BROKER_URL, SERIESBOT_SMTP_*) are read here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bot.errors import ConfigError

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "seriesbot.toml"
PROJECT_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


@dataclass(frozen=True)
class SmtpIn:
    host: str = "127.0.0.1"
    port: int = 8025
    lmtp: bool = False
    max_message_size: int = 10 * 1024 * 1024
    # Addresses of list servers allowed to deliver; empty means any peer.
    accept_peers: tuple[str, ...] = ()


@dataclass(frozen=True)
class SmtpOut:
    host: str = "127.0.0.1"
    port: int = 2525
    starttls: bool = False
    user: str = ""
    password: str = field(default="", repr=False)
    timeout: float = 30.0  # connecting and each command's reply
    # the final reply after the message text: RFC 5321 4.5.3.2.6 gives the server 10 minutes, and a
    # client that gives up earlier sends the mail again though the relay kept it
    data_timeout: float = 600.0
    max_attempts: int = 50
    retry_base_seconds: float = 5.0
    retry_max_seconds: float = 600.0

    @property
    def stale_after_seconds(self) -> float:
        """A send claimed longer ago than the longest a live sender can take has lost its sender."""
        return self.data_timeout + 4 * self.timeout


@dataclass(frozen=True)
class Web:
    host: str = "127.0.0.1"
    port: int = 8080
    # maintainers sign in to the dashboard with a token: "address=token" pairs, from the environment
    # (SERIESBOT_WEB_LOGINS="ada@example.org=s3cret,bob@example.org=other"); never in a config file
    logins: dict[str, str] = field(default_factory=dict, repr=False)
    # signs session cookies and CSRF tokens; SERIESBOT_WEB_SECRET, else a file made once in data_dir
    secret_key: str = field(default="", repr=False)


@dataclass(frozen=True)
class Worker:
    name: str = ""
    # embedded default: how often the worker re-enqueues what the database says is pending
    reconcile_seconds: float = 30.0
    # a running run's lease: renewed by a heartbeat; expired, another worker resumes the run
    lease_seconds: float = 120.0
    # who build steps run as when the worker is root (a name or uid; a dedicated user is best)
    sandbox_user: str = "nobody"


@dataclass(frozen=True)
class BuildSettings:
    setup: tuple[str, ...] = ("meson", "setup", "{build}", "{src}")
    build: tuple[str, ...] = ("ninja", "-C", "{build}")
    test: tuple[str, ...] = ("meson", "test", "-C", "{build}", "--no-rebuild", "--print-errorlogs")
    setup_timeout: float = 600.0
    build_timeout: float = 3600.0
    test_timeout: float = 3600.0
    output_cap: int = 20 * 1024 * 1024
    memory_mb: int = 8192
    max_processes: int = 4096
    network: bool = False
    # steps of this project run only in the build sandbox (bubblewrap); where a worker cannot make
    # it the run ends as an infrastructure error for the admins instead of running untrusted code
    require_sandbox: bool = True
    # what one step may add to its writable trees (build directory, tree, compiler cache), in MB
    max_write_mb: int = 4096
    # "every": build and test after every patch (the mission); "last": only the last patch is tested
    test_mode: str = "every"
    # a ninja build goes on after a failure (`-k 0`), so every target a patch breaks is reported
    keep_going: bool = True
    # every compile goes through ccache (meson wraps the compiler with it when it is on PATH), in a
    # cache of the worker's own shared by all series and both build directories (the series' and
    # upstream's); "" = <data_dir>/ccache/<worker>. "depend" mode never runs the preprocessor, so a
    # miss costs what a plain compile costs (measured: bench/build_latency.py); "preprocessor" also
    # hits a unit whose preprocessed text a header change left alone, at a dearer miss
    ccache: bool = True
    ccache_dir: str = ""
    ccache_max_size: str = "5G"
    ccache_mode: str = "depend"


# build keys that change how fast a result comes, never the result: not part of config_version
SPEED_ONLY_BUILD_KEYS = ("ccache", "ccache_dir", "ccache_max_size", "ccache_mode")


@dataclass(frozen=True)
class RuleSettings:
    profiles: tuple[str, ...] = ("generic",)
    disabled: tuple[str, ...] = ()
    severity: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportSettings:
    per_patch: str = "all"  # "all" | "problems" | "none"
    summary: bool = True
    to: str = "list"  # "list" | "author"
    cc_list: bool = True
    dry_run: bool = False
    max_bytes: int = 10 * 1024
    # lines shown under "Reproduce locally" after the git fetch/checkout, instead of the commands
    # the bot ran ({jobs}: the parallelism it used); empty: the commands that ran, in a reader's paths
    reproduce: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProjectSettings:
    name: str
    list_id: str
    list_address: str
    upstream: str
    branch: str = "main"
    demo: bool = False
    maintainers: tuple[str, ...] = ()
    lore_url: str = ""  # public-inbox base of the list, e.g. https://lore.kernel.org/libvir-list
    # the list's public-inbox archive (v2: one git repository per epoch under it), followed by
    # `seriesbot follow` and read to prove delivery, e.g. https://lore.kernel.org/libvir-list;
    # inbox_mirror: where its epochs are mirrored (default: <data>/inbox/<project>)
    inbox_url: str = ""
    inbox_mirror: str = ""
    inbox_poll: float = 60.0  # seconds between two looks at the archive (its manifest, then git fetch)
    # Patchwork instance tracking the list (base URL, e.g. https://patchwork.kernel.org) and the
    # project's link name there; the token comes from SERIESBOT_PATCHWORK_TOKEN_<PROJECT>
    patchwork_url: str = ""
    patchwork_project: str = ""
    patchwork_token: str = field(default="", repr=False)  # SERIESBOT_PATCHWORK_TOKEN_<PROJECT>, never in a file
    dkim_required: bool = False  # commands count only with a passing DKIM signature
    commands_per_hour: int = 10  # per sender
    subscribe_address: str = ""  # e.g. devel-join@lists.libvirt.org (Mailman 3) or devel-request@ (Mailman 2)
    subscribe_style: str = "mailman3"  # mailman3: empty mail to -join@; mailman2: "subscribe" to -request@
    incomplete_after: float = 6 * 3600.0
    # submodule path -> the URL the worker mirrors it from instead of .gitmodules' (an offline mirror)
    submodules: dict[str, str] = field(default_factory=dict)
    build: BuildSettings = field(default_factory=BuildSettings)
    rules: RuleSettings = field(default_factory=RuleSettings)
    report: ReportSettings = field(default_factory=ReportSettings)

    @property
    def queue(self) -> str:
        return f"seriesbot.build.{self.name}"

    @property
    def config_version(self) -> str:
        """Hash of what changes a result: the build commands and the rules picked."""
        build = {k: v for k, v in asdict(self.build).items() if k not in SPEED_ONLY_BUILD_KEYS}
        data = json.dumps({"build": build, "rules": asdict(self.rules)}, sort_keys=True)
        return hashlib.sha256(data.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Settings:
    config_path: Path
    data_dir: Path
    database_url: str
    broker_url: str
    public_url: str
    bot_name: str
    bot_address: str
    command_prefix: str
    admin_addresses: tuple[str, ...]
    logs_retention_days: float
    smtp_in: SmtpIn
    smtp_out: SmtpOut
    web: Web
    worker: Worker
    projects: dict[str, ProjectSettings]
    fault: str = ""  # fault injection for the crash tests only (SERIESBOT_FAULT); empty in real use

    @property
    def embedded_broker(self) -> bool:
        return self.broker_url.startswith("filesystem://")

    @property
    def broker_dir(self) -> Path:
        return self.data_dir / "broker"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def worker_name(self) -> str:
        return self.worker.name or socket.gethostname()

    def project(self, name: str) -> ProjectSettings:
        try:
            return self.projects[name]
        except KeyError:
            raise ConfigError(f"no project named {name!r} in {self.config_path}") from None

    def project_for_list(self, list_id: str) -> ProjectSettings | None:
        for project in self.projects.values():
            if project.list_id.lower() == list_id.lower():
                return project
        return None

    def project_for_address(self, address: str) -> ProjectSettings | None:
        for project in self.projects.values():
            if project.list_address.lower() == address.lower():
                return project
        return None


def _section(data: dict[str, Any], cls: type, where: str) -> Any:
    known = {f.name: f for f in cls.__dataclass_fields__.values()}  # type: ignore[attr-defined]
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in ("logins", "secret_key"):
            raise ConfigError(f"{where}.{key}: secrets come from the environment, not the config file")
        if key not in known:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})")
        default = getattr(cls(), key)
        if isinstance(default, tuple):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where}.{key}: expected a list of strings")
            value = tuple(value)
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                raise ConfigError(f"{where}.{key}: expected true or false")
        elif isinstance(default, int | float) and not isinstance(default, bool):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(f"{where}.{key}: expected a number")
            value = type(default)(value)
        elif isinstance(default, str) and not isinstance(value, str):
            raise ConfigError(f"{where}.{key}: expected a string")
        values[key] = value
    return cls(**values)


def _load_project(path: Path) -> ProjectSettings:
    where = path.name
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    nested = {
        "build": BuildSettings,
        "rules": RuleSettings,
        "report": ReportSettings,
    }
    kwargs: dict[str, Any] = {}
    for key in ("name", "list_id", "list_address", "upstream"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ConfigError(f"{where}: missing required string key {key!r}")
    for key, value in data.items():
        if key in nested:
            if not isinstance(value, dict):
                raise ConfigError(f"{where}.{key}: expected a table")
            if key == "rules" and "severity" in value:
                sev = value["severity"]
                if not isinstance(sev, dict) or any(v not in ("error", "warning", "off") for v in sev.values()):
                    raise ConfigError(f"{where}.rules.severity: values must be error, warning or off")
                value = {k: v for k, v in value.items() if k != "severity"}
                section = _section(value, nested[key], f"{where}.{key}")
                kwargs[key] = RuleSettings(section.profiles, section.disabled, dict(sev))
            else:
                kwargs[key] = _section(value, nested[key], f"{where}.{key}")
        elif key == "submodules":
            if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) and v
                                                      for k, v in value.items()):
                raise ConfigError(f"{where}.submodules: expected a table of \"path\" = \"url\"")
            kwargs[key] = {k.strip("/"): v for k, v in value.items()}
        elif key in ("maintainers",):
            if not isinstance(value, list):
                raise ConfigError(f"{where}.{key}: expected a list of addresses")
            kwargs[key] = tuple(str(v).lower() for v in value)
        elif key in ProjectSettings.__dataclass_fields__:
            kwargs[key] = value
        else:
            raise ConfigError(f"{where}: unknown key {key!r}")
    project = ProjectSettings(**kwargs)
    if not PROJECT_NAME_RE.match(project.name):
        raise ConfigError(f"{where}.name: {project.name!r} must match {PROJECT_NAME_RE.pattern}")
    if project.build.test_mode not in ("every", "last"):
        raise ConfigError(f"{where}.build.test_mode: must be 'every' or 'last'")
    if project.build.ccache_mode not in ("depend", "preprocessor"):
        raise ConfigError(f"{where}.build.ccache_mode: must be 'depend' or 'preprocessor'")
    if not re.fullmatch(r"\d+(\.\d+)?[KMGT]?i?", project.build.ccache_max_size):
        raise ConfigError(f"{where}.build.ccache_max_size: a size such as '5G' or '500M'")
    if project.report.per_patch not in ("all", "problems", "none"):
        raise ConfigError(f"{where}.report.per_patch: must be 'all', 'problems' or 'none'")
    if project.report.to not in ("list", "author"):
        raise ConfigError(f"{where}.report.to: must be 'list' or 'author'")
    return project


def _with_config_dir(project: ProjectSettings, base: Path) -> ProjectSettings:
    """`{config}` in build commands is the configuration folder (a meson native file kept there)."""
    b = project.build
    if not any("{config}" in a for a in (*b.setup, *b.build, *b.test)):
        return project
    def sub(argv: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(a.replace("{config}", str(base)) for a in argv)

    build = BuildSettings(**{**asdict(b), "setup": sub(b.setup), "build": sub(b.build), "test": sub(b.test)})
    return ProjectSettings(**{**project.__dict__, "build": build})


def load_settings(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Settings:
    """Read the global file and every project file next to it; apply environment overrides."""
    env = dict(os.environ if env is None else env)
    config_path = Path(path or env.get("SERIESBOT_CONFIG") or DEFAULT_CONFIG).resolve()
    try:
        data = tomllib.loads(config_path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"configuration file not found: {config_path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config_path}: {exc}") from exc
    base = config_path.parent
    sections = {"smtp_in": SmtpIn, "smtp_out": SmtpOut, "web": Web, "worker": Worker}
    plain = {"data_dir", "database_url", "broker_url", "public_url", "bot_name", "bot_address",
             "command_prefix", "projects_dir", "admin_addresses",
             "logs_retention_days"}
    for key in data:
        if key not in sections and key not in plain:
            raise ConfigError(f"{config_path.name}: unknown key {key!r}")
    data_dir = Path(env.get("SERIESBOT_DATA_DIR") or data.get("data_dir", "../data"))
    if not data_dir.is_absolute():
        data_dir = (base / data_dir).resolve()
    parts = {name: _section(data.get(name, {}), cls, f"{config_path.name}.{name}") for name, cls in sections.items()}
    smtp_out: SmtpOut = parts["smtp_out"]
    relay = env.get("SERIESBOT_SMTP_RELAY")
    if relay:
        host, _, port = relay.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError("SERIESBOT_SMTP_RELAY: expected host:port")
        smtp_out = SmtpOut(**{**asdict(smtp_out), "host": host, "port": int(port)})
    if env.get("SERIESBOT_SMTP_USER") or env.get("SERIESBOT_SMTP_PASSWORD"):
        smtp_out = SmtpOut(**{**asdict(smtp_out), "user": env.get("SERIESBOT_SMTP_USER", ""),
                              "password": env.get("SERIESBOT_SMTP_PASSWORD", "")})
    web: Web = parts["web"]
    logins = {}
    for pair in filter(None, (env.get("SERIESBOT_WEB_LOGINS") or "").split(",")):
        address, sep, token = pair.partition("=")
        if not sep or not address.strip() or len(token.strip()) < 8:
            raise ConfigError("SERIESBOT_WEB_LOGINS: expected address=token pairs, tokens of 8 characters or more")
        logins[address.strip().lower()] = token.strip()
    web = Web(host=web.host, port=web.port, logins=logins, secret_key=env.get("SERIESBOT_WEB_SECRET", ""))
    worker: Worker = parts["worker"]
    if env.get("SERIESBOT_WORKER_NAME"):  # one stable name per container or process: its leases and caches
        worker = Worker(**{**asdict(worker), "name": env["SERIESBOT_WORKER_NAME"]})
    database_url = env.get("DATABASE_URL") or data.get("database_url") or f"sqlite:///{data_dir}/seriesbot.db"
    broker_url = env.get("BROKER_URL") or data.get("broker_url") or "filesystem://"
    public_url = data.get("public_url") or f"http://{web.host}:{web.port}"
    projects_dir = base / data.get("projects_dir", "projects")
    projects: dict[str, ProjectSettings] = {}
    for project_file in sorted(projects_dir.glob("*.toml")):
        project = _with_config_dir(_load_project(project_file), base)
        if project.name in projects:
            raise ConfigError(f"{project_file.name}: project {project.name!r} defined twice")
        if project.demo and not Path(project.upstream).is_absolute():
            project = ProjectSettings(**{**project.__dict__, "upstream": str(data_dir / project.upstream)})
        token = env.get("SERIESBOT_PATCHWORK_TOKEN_" + project.name.upper().replace("-", "_"), "").strip()
        if token:
            project = ProjectSettings(**{**project.__dict__, "patchwork_token": token})
        projects[project.name] = project
    return Settings(
        config_path=config_path,
        data_dir=data_dir,
        database_url=database_url,
        broker_url=broker_url,
        public_url=public_url.rstrip("/"),
        bot_name=data.get("bot_name", "seriesbot"),
        bot_address=data.get("bot_address", "seriesbot@localhost"),
        command_prefix=data.get("command_prefix", "seriesbot:"),
        admin_addresses=tuple(data.get("admin_addresses", [])),
        logs_retention_days=float(data.get("logs_retention_days", 30)),
        fault=env.get("SERIESBOT_FAULT", ""),
        smtp_in=parts["smtp_in"],
        smtp_out=smtp_out,
        web=web,
        worker=worker,
        projects=projects,
    )


_current: Settings | None = None


def get_settings() -> Settings:
    """The settings of this process, loaded on first use."""
    global _current
    if _current is None:
        _current = load_settings()
    return _current


def set_settings(settings: Settings) -> None:
    global _current
    _current = settings
