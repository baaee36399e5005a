"""Speed of the API-conformance rules on a libvirt-sized case (a benchmark, not a test).

Grows libvirt-mini into a tree of libvirt's size (src/libvirt-domain.c of about 13,000 lines, with
headers, syms, protocol, remote and test drivers, virsh and its manual to match) by replicating
complete APIs, then judges one patch of about 5,000 lines that adds complete new APIs to every one of
those files, as the last patch of a series (so the series-end rules run too). Prints seconds per patch
(the whole SeriesChecker.check: git diff, file reads and every rule) and the ratio to the 0.5 s target.

    .venv/bin/python -m bench.rules_speed [--base-apis 285] [--new-apis 35] [--runs 5]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from tests.fixtures.rulesrepo import git, mini_repo
from workers.rules import discover
from workers.rules.local import SeriesChecker

TARGET = 0.5


class Api:
    """One complete API, as its pieces in every file (virDomainSetOp7, domainSetOp7, ...)."""

    def __init__(self, word: str, i: int, number: int) -> None:
        self.word, self.i, self.number = word, i, number
        self.name = f"virDomain{word}Op{i}"
        self.member = f"domain{word}Op{i}"
        self.stem = f"domain_{word.lower()}_op{i}"
        self.cmd = f"{word.lower()}-op{i}"

    def prototype(self) -> str:
        pad = " " * len(f"int {self.name}(")
        return f"int {self.name}(virDomainPtr domain,\n{pad}const char *value,\n{pad}unsigned int flags);\n"

    def typedef(self) -> str:
        pad = " " * len(f"(*virDrv{self.member[0].upper()}{self.member[1:]})(")
        return (f"typedef int\n(*virDrv{self.member[0].upper()}{self.member[1:]})(virDomainPtr domain,\n"
                f"{pad}const char *value,\n{pad}unsigned int flags);\n\n")

    def impl(self) -> str:
        return f"""

/**
 * {self.name}:
 * @domain: a domain object
 * @value: the new value
 * @flags: extra flags; not used yet, so callers should always pass 0
 *
 * Sets value number {self.i} of the domain.
 *
 * Returns 0 in case of success and -1 in case of failure.
 *
 * Since: 1.1.0
 */
int
{self.name}(virDomainPtr domain,
{' ' * len(self.name)} const char *value,
{' ' * len(self.name)} unsigned int flags)
{{
    virConnectPtr conn;

    VIR_DOMAIN_DEBUG(domain, "value=%s, flags=0x%x", NULLSTR(value), flags);

    virResetLastError();

    virCheckDomainReturn(domain, -1);
    conn = domain->conn;

    virCheckReadOnlyGoto(conn->flags, error);
    virCheckNonNullArgGoto(value, error);

    if (conn->driver->{self.member}) {{
        int ret;
        ret = conn->driver->{self.member}(domain, value, flags);
        if (ret < 0)
            goto error;
        return ret;
    }}

    virReportUnsupportedError();

 error:
    virDispatchError(domain->conn);
    return -1;
}}
"""

    def xdr_struct(self) -> str:
        return (f"\nstruct remote_{self.stem}_args {{\n    remote_nonnull_domain dom;\n"
                f"    remote_nonnull_string value;\n    unsigned int flags;\n}};\n")

    def xdr_proc(self) -> str:
        return (f",\n\n    /**\n     * @generate: both\n     * @acl: domain:write\n     */\n"
                f"    REMOTE_PROC_{self.stem.upper()} = {self.number}")

    def structs_struct(self) -> str:
        return (f"struct remote_{self.stem}_args {{\n        remote_nonnull_domain      dom;\n"
                f"        remote_nonnull_string      value;\n        u_int                      flags;\n}};\n")

    def virsh(self) -> str:
        var = self.cmd.replace("-", "_")
        return f"""/*
 * "{self.cmd}" command
 */
static const vshCmdInfo info_{var} = {{
    .help = N_("set value {self.i} of a domain"),
    .desc = N_("Set value {self.i} of a domain."),
}};

static const vshCmdOptDef opts_{var}[] = {{
    VIRSH_COMMON_OPT_DOMAIN_FULL,
    {{.name = "value", .type = VSH_OT_DATA, .flags = VSH_OFLAG_REQ, .help = N_("the value")}},
    {{.name = NULL}}
}};

static bool
cmd{self.word}Op{self.i}(vshControl *ctl, const vshCmd *cmd)
{{
    virDomainPtr dom;
    const char *value = NULL;
    bool ret = true;

    if (!(dom = virshCommandOptDomain(ctl, cmd, NULL)))
        return false;
    if (vshCommandOptString(ctl, cmd, "value", &value) < 0 ||
        {self.name}(dom, value, 0) < 0)
        ret = false;
    virDomainFree(dom);
    return ret;
}}

"""

    def virsh_entry(self) -> str:
        var = self.cmd.replace("-", "_")
        return (f"    {{.name = \"{self.cmd}\",\n     .handler = cmd{self.word}Op{self.i},\n     .opts = opts_{var},\n"
                f"     .info = &info_{var},\n     .flags = 0\n    }},\n")

    def manual(self) -> str:
        return (f"{self.cmd}\n{'-' * len(self.cmd)}\n\n**Syntax:**\n\n::\n\n   {self.cmd} domain value\n\n"
                f"Sets value {self.i} of a domain.\n\n\n")

    def test_impl(self) -> str:
        return f"""static int
test{self.member[0].upper()}{self.member[1:]}(virDomainPtr domain,
{' ' * (len(self.member) + 5)}const char *value G_GNUC_UNUSED,
{' ' * (len(self.member) + 5)}unsigned int flags)
{{
    testDomainObj *privdom;

    virCheckFlags(0, -1);

    if (!(privdom = testDomObjFromDomain(domain)))
        return -1;

    return 0;
}}


"""


def add(repo: Path, apis: list[Api], section: str, parent: str) -> None:
    """Write every piece of `apis` into the tree at libvirt's places for them."""
    def edit(path: str, change) -> None:  # type: ignore[no-untyped-def]
        p = repo / path
        p.write_text(change(p.read_text()))

    def before_last(text: str, anchor: str, addition: str) -> str:
        i = text.rindex(anchor)
        return text[:i] + addition + text[i:]

    edit("include/libvirt/libvirt-domain.h", lambda t: before_last(t, "\n#endif", "\n" + "".join(a.prototype() for a in apis)))
    syms = "".join(f"        {a.name};\n" for a in apis)
    edit("src/libvirt_public.syms", lambda t: before_last(
        t, "\n# .... define", f"\n{section} {{\n    global:\n{syms}}} {parent};\n"))
    edit("src/driver-hypervisor.h", lambda t: before_last(before_last(
        t, "typedef struct _virHypervisorDriver", "".join(a.typedef() for a in apis)), "};",
        "".join(f"    virDrv{a.member[0].upper()}{a.member[1:]} {a.member};\n" for a in apis)))
    edit("src/libvirt-domain.c", lambda t: t + "".join(a.impl() for a in apis))
    edit("src/remote/remote_protocol.x", lambda t: before_last(before_last(
        t, "\n/*----- Protocol. -----*/", "".join(a.xdr_struct() for a in apis)), "\n};", "".join(a.xdr_proc() for a in apis)))
    edit("src/remote_protocol-structs", lambda t: before_last(before_last(
        t, "enum remote_procedure {", "".join(a.structs_struct() for a in apis)), "};",
        "".join(f"        REMOTE_PROC_{a.stem.upper()} = {a.number},\n" for a in apis)))
    edit("src/remote/remote_driver.c", lambda t: before_last(
        t, "};\n\nstatic virConnectDriver", "".join(f"    .{a.member} = remote{a.member[0].upper()}{a.member[1:]},\n"
                                                    for a in apis)))
    edit("tools/virsh-domain.c", lambda t: before_last(before_last(
        t, "const vshCmdDef domManagementCmds", "".join(a.virsh() for a in apis)), "    {.name = NULL}\n};",
        "".join(a.virsh_entry() for a in apis)))
    edit("docs/manpages/virsh.rst", lambda t: before_last(t, "ENVIRONMENT\n", "".join(a.manual() for a in apis)))
    edit("src/test/test_driver.c", lambda t: before_last(before_last(
        t, "static virHypervisorDriver testHypervisorDriver", "".join(a.test_impl() for a in apis)),
        "};\n\nstatic virConnectDriver", "".join(f"    .{a.member} = test{a.member[0].upper()}{a.member[1:]},\n"
                                                  for a in apis)))


def commit(repo: Path, subject: str) -> str:
    git(repo, "add", "--all")
    git(repo, "commit", "-q", "--no-gpg-sign", "-F", "-",
        stdin=f"{subject}\n\nSigned-off-by: Ada Lovelace <ada@example.org>\n")
    return git(repo, "rev-parse", "HEAD").strip()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-apis", type=int, default=285, help="APIs replicated into the upstream tree")
    parser.add_argument("--new-apis", type=int, default=35, help="complete APIs the judged patch adds")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        repo, _ = mini_repo(Path(tmp) / "libvirt")
        add(repo, [Api("Base", i, 10 + i) for i in range(args.base_apis)], "LIBVIRT_1.0.9", "LIBVIRT_1.0.6")
        base = commit(repo, "Upstream at libvirt's size")
        size = len((repo / "src/libvirt-domain.c").read_text().splitlines())
        first = 10 + args.base_apis
        add(repo, [Api("Set", i, first + i) for i in range(args.new_apis)], "LIBVIRT_1.1.0", "LIBVIRT_1.0.9")
        head = commit(repo, "domain: Introduce many new APIs")
        patch_lines = len(git(repo, "diff", base, head).splitlines())
        rules = discover()
        times, outcome = [], None
        for _ in range(args.runs):
            checker = SeriesChecker(repo, rules, total=1)  # fresh: nothing read or parsed yet
            started = time.perf_counter()
            outcome = checker.check(base, head, 1)
            times.append(time.perf_counter() - started)
        assert outcome is not None
        per_patch = statistics.median(times)
        print(f"upstream: src/libvirt-domain.c {size} lines; patch: {patch_lines} lines, {args.new_apis} new APIs; "
              f"{len(rules)} rules; findings: {len(outcome.findings)}")
        print(f"rules per patch: {per_patch:.3f} s (median of {args.runs}; min {min(times):.3f} s), "
              f"of which in rules {sum(outcome.timings.values()):.3f} s; ratio to the {TARGET} s target: "
              f"{per_patch / TARGET:.2f}")
        slowest = sorted(outcome.timings.items(), key=lambda kv: -kv[1])[:5]
        print("slowest rules: " + ", ".join(f"{rid} {secs * 1000:.0f} ms" for rid, secs in slowest))


if __name__ == "__main__":
    main()
