"""What every command does first: load the settings (once, for this process and its children) and
make sure the data directory, the tables and the demo upstream exist."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bot import redact
from bot.db.session import init_db
from bot.settings import Settings, load_settings, set_settings


def command_settings(args: argparse.Namespace) -> Settings:
    settings = load_settings(args.config)
    set_settings(settings)
    redact.configure(settings)  # the last filter: this process's secrets never reach a log, mail or row
    if args.config:
        os.environ["SERIESBOT_CONFIG"] = str(settings.config_path)  # for child processes
    return settings


def prepare(settings: Settings) -> None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    init_db(settings.database_url)
    from bot.demo.upstream import create_upstream

    for project in settings.projects.values():
        if project.demo:
            create_upstream(Path(project.upstream), project.branch)
