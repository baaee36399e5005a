"""A project's config turns single rules off or changes their severity."""

from bot.records import Severity
from bot.settings import load_settings
from tests.stack import write_config
from workers.rules import rules_for_project
from workers.rules.local import check_range


def test_disabled_and_off_rules_are_gone_and_severity_is_changed(demo_series_repo):
    rules = rules_for_project(("generic", "libvirt"), disabled=("generic.whitespace",),
                              severity={"libvirt.entry-resets-error": "warning", "generic.subject-form": "off"})
    ids = {r.id for r in rules}
    assert "generic.whitespace" not in ids and "generic.subject-form" not in ids
    assert "libvirt.entry-resets-error" in ids
    work, base, head = demo_series_repo
    findings = [f for r in check_range(work, f"{base}..{head}", rules) for f in r.findings]
    assert [(f.rule_id, f.severity) for f in findings] == [("libvirt.entry-resets-error", Severity.WARNING)]


def test_project_file_rules_table(tmp_path):
    config = write_config(tmp_path, smtp_port=1, web_port=2, relay_port=3, project_overrides="")
    project = (tmp_path / "config" / "projects" / "demo.toml")
    project.write_text(project.read_text().replace(
        '[rules]\nprofiles = ["generic", "libvirt"]',
        '[rules]\nprofiles = ["generic", "libvirt"]\ndisabled = ["generic.whitespace"]\n'
        '[rules.severity]\n"libvirt.entry-resets-error" = "warning"'))
    rules = load_settings(config, env={}).project("demo").rules
    assert rules.disabled == ("generic.whitespace",)
    assert rules.severity == {"libvirt.entry-resets-error": "warning"}
