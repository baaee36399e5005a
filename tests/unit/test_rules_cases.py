"""Edge cases of single rules on in-memory trees: what must stay silent (libvirt's real habits) and
what must not slip through. The diff is made with difflib, the context has no git behind it."""

from __future__ import annotations

import difflib

from bot.records import Finding
from workers.rules import discover
from workers.rules.context import PatchInfo, RuleContext

RULES = {r.id: r for r in discover()}


def unified(path: str, old: str | None, new: str | None) -> str:
    head = f"diff --git a/{path} b/{path}\n"
    lines = difflib.unified_diff((old or "").splitlines(keepends=True), (new or "").splitlines(keepends=True),
                                 "/dev/null" if old is None else f"a/{path}", "/dev/null" if new is None else f"b/{path}")
    return head + "".join(lines)


def run(rule_id: str, before: dict[str, str], after: dict[str, str], *, base: dict[str, str] | None = None,
        subject: str = "domain: Change a thing", message: str | None = None) -> list[Finding]:
    paths = sorted(set(before) | set(after))
    diff = "".join(unified(p, before.get(p), after.get(p)) for p in paths if before.get(p) != after.get(p))
    body = message if message is not None else f"{subject}\n\nSigned-off-by: Ada Lovelace <ada@example.org>\n"
    info = PatchInfo(1, subject, body, "Ada Lovelace", "ada@example.org", diff)
    ctx = RuleContext(info, [info], read=after.get, read_before=before.get,
                      read_at=lambda index, path: (base if base is not None else before).get(path))
    return list(RULES[rule_id].check(ctx))


def lines(findings: list[Finding]) -> list[int]:
    return [f.line for f in findings]


SYMS = """\
LIBVIRT_0.0.3 {
    global:
        virConnectClose;
        virDomainFree;
};

LIBVIRT_1.0.6 {
    global:
        virGetLastErrorMessage;
} LIBVIRT_0.0.3;
"""
MESON = "project('libvirt', 'c', version: '{}', license: 'LGPLv2+')\n"
ADDED = SYMS.replace("        virGetLastErrorMessage;\n", "        virGetLastErrorMessage;\n        virDomainFoo;\n")


def test_syms_accept_additions_to_the_section_of_the_release_being_prepared() -> None:
    tree = {"src/libvirt_public.syms": SYMS, "meson.build": MESON.format("1.0.6")}
    assert run("libvirt.syms-append-only", tree, {**tree, "src/libvirt_public.syms": ADDED}) == []


def test_syms_refuse_additions_to_a_released_section() -> None:
    tree = {"src/libvirt_public.syms": SYMS, "meson.build": MESON.format("1.1.0")}
    found = run("libvirt.syms-append-only", tree, {**tree, "src/libvirt_public.syms": ADDED})
    assert lines(found) == [10] and "LIBVIRT_1.0.6" in found[0].message


def test_syms_accept_additions_to_a_section_the_series_created() -> None:
    tree = {"src/libvirt_public.syms": SYMS, "meson.build": MESON.format("1.1.0")}
    base = {**tree, "src/libvirt_public.syms": SYMS.split("\nLIBVIRT_1.0.6")[0]}
    assert run("libvirt.syms-append-only", tree, {**tree, "src/libvirt_public.syms": ADDED}, base=base) == []


def test_syms_refuse_removals_and_badly_placed_sections() -> None:
    tree = {"src/libvirt_public.syms": SYMS}
    removed = SYMS.replace("        virDomainFree;\n", "")
    assert lines(run("libvirt.syms-append-only", tree, {"src/libvirt_public.syms": removed})) == [4]
    orphan = SYMS + "\nLIBVIRT_1.1.0 {\n    global:\n        virDomainFoo;\n} LIBVIRT_0.0.3;\n"
    found = run("libvirt.syms-append-only", tree, {"src/libvirt_public.syms": orphan})
    assert lines(found) == [12] and "inherits from LIBVIRT_0.0.3" in found[0].message
    first = "LIBVIRT_0.0.1 {\n    global:\n        virFoo;\n};\n\n" + SYMS
    assert lines(run("libvirt.syms-append-only", tree, {"src/libvirt_public.syms": first})) == [1]


IMPL = """\
/**
 * virDomainGetTitle:
 * @domain: a domain object
 * @flags: extra flags
 *
 * Since: 1.1.0
 */
char *
virDomainGetTitle(virDomainPtr domain, unsigned int flags)
{
    virResetLastError();

    virCheckDomainReturn(domain, NULL);

    if (domain->conn->driver->domainGetTitle) {
        char *ret;
        ret = domain->conn->driver->domainGetTitle(domain, flags);
        if (!ret)
            goto error;
        return ret;
    }

    virReportUnsupportedError();
 error:
    virDispatchError(domain->conn);
    return NULL;
}
"""
TREE = {"src/libvirt-domain.c": IMPL, "src/libvirt_public.syms": SYMS.replace("virDomainFree;", "virDomainGetTitle;")}


def test_a_changed_entry_point_is_blamed_only_for_what_the_patch_took_away() -> None:
    changed = {**TREE, "src/libvirt-domain.c": IMPL.replace("return ret;", "return ret; /* a change */")}
    assert run("libvirt.entry-logs-debug", TREE, changed) == []  # lacked VIR_DEBUG before the patch too
    lost = {**TREE, "src/libvirt-domain.c": IMPL.replace("    virResetLastError();\n", "")}
    assert lines(run("libvirt.entry-resets-error", TREE, lost)) == [9]


def test_a_new_read_only_api_needs_no_read_only_check() -> None:
    assert run("libvirt.entry-readonly-check", {"src/libvirt_public.syms": TREE["src/libvirt_public.syms"]},
               TREE) == []
    setter = {k: v.replace("GetTitle", "SetTitle") for k, v in TREE.items()}
    assert lines(run("libvirt.entry-readonly-check", {"src/libvirt_public.syms": setter["src/libvirt_public.syms"]},
                     setter)) == [9]


def test_a_pointer_the_doc_says_may_be_null_needs_no_check() -> None:
    impl = IMPL.replace("unsigned int flags)", "char **title, unsigned int flags)").replace(
        " * @flags:", " * @title: where to store the title\n * @flags:")
    tree = {**TREE, "src/libvirt-domain.c": impl}
    syms_only = {"src/libvirt_public.syms": TREE["src/libvirt_public.syms"]}
    assert lines(run("libvirt.entry-checks-args", syms_only, tree)) == [10]
    optional = {**tree, "src/libvirt-domain.c": impl.replace("store the title", "store the title, or NULL")}
    assert run("libvirt.entry-checks-args", syms_only, optional) == []


def test_arrays_with_their_length_and_tested_pointers_need_no_check() -> None:
    impl = IMPL.replace("unsigned int flags)", "unsigned int nfiles, int *files, virDomainPtr **domains,\n"
                        "                  unsigned int flags)").replace(
        "    virResetLastError();\n", "    virResetLastError();\n    if (domains)\n        *domains = NULL;\n")
    syms_only = {"src/libvirt_public.syms": TREE["src/libvirt_public.syms"]}
    assert run("libvirt.entry-checks-args", syms_only, {**TREE, "src/libvirt-domain.c": impl}) == []


def test_a_trivial_wrapper_of_a_public_api_inherits_its_checks_but_not_its_doc() -> None:
    wrapper = ("\n/**\n * virDomainGetTitleOld:\n * @domain: a domain object\n *\n * Since: 0.1.0\n */\nchar *\n"
               "virDomainGetTitleOld(virDomainPtr domain)\n{\n    return virDomainGetTitle(domain, 0);\n}\n")
    syms = TREE["src/libvirt_public.syms"].replace("virDomainGetTitle;", "virDomainGetTitle;\n        virDomainGetTitleOld;")
    after = {"src/libvirt-domain.c": IMPL + wrapper, "src/libvirt_public.syms": syms}
    before = {**TREE, "src/libvirt_public.syms": syms}
    for rule_id in ("libvirt.entry-resets-error", "libvirt.entry-logs-debug", "libvirt.entry-checks-object",
                    "libvirt.entry-doc-comment"):
        assert run(rule_id, before, after) == [], rule_id
    undocumented = {**after, "src/libvirt-domain.c": IMPL + wrapper.replace(" * Since: 0.1.0\n", "")}
    assert lines(run("libvirt.entry-doc-comment", before, undocumented)) == [35]


XDR = """\
struct remote_domain_reset_args {
    remote_nonnull_domain dom;
};

enum remote_procedure {
    /**
     * @generate: both
     * @acl: domain:reset
     */
    REMOTE_PROC_DOMAIN_RESET = 1,

    /**
     * @generate: both
     * @acl: domain:read
     */
    REMOTE_PROC_DOMAIN_IS_ACTIVE = 2
};
"""
NEW_PROC = """,

    /**
     * @generate: both
     * @acl: domain:read
     */
    REMOTE_PROC_DOMAIN_GET_TITLE = 3
};
"""
X = "src/remote/remote_protocol.x"


def test_appending_a_procedure_is_not_a_renumbering_but_inserting_or_renumbering_is() -> None:
    appended = XDR.replace("\n};\n", NEW_PROC)
    assert run("libvirt.remote-proc-appended", {X: XDR}, {X: appended}) == []
    renumbered = XDR.replace("IS_ACTIVE = 2", "IS_ACTIVE = 3")
    assert [f.message for f in run("libvirt.remote-proc-appended", {X: XDR}, {X: renumbered})] == [
        "renumbers REMOTE_PROC_DOMAIN_IS_ACTIVE from 2 to 3"]
    inserted = XDR.replace("    REMOTE_PROC_DOMAIN_IS_ACTIVE = 2",
                           "    REMOTE_PROC_DOMAIN_GET_TITLE = 3,\n\n    REMOTE_PROC_DOMAIN_IS_ACTIVE = 2")
    assert "inserted before" in run("libvirt.remote-proc-appended", {X: XDR}, {X: inserted})[0].message


def test_structs_follow_what_the_api_returns() -> None:
    header = {"include/libvirt/libvirt-domain.h": "char *virDomainGetTitle(virDomainPtr domain,\n"
                                                  "                        unsigned int flags);\n"}
    appended = XDR.replace("\n};\n", NEW_PROC)
    found = run("libvirt.remote-structs-named", {X: XDR, **header}, {X: appended, **header})
    assert sorted(f.message.split(" for ")[0] for f in found) == [
        "REMOTE_PROC_DOMAIN_GET_TITLE has no struct remote_domain_get_title_args",
        "REMOTE_PROC_DOMAIN_GET_TITLE has no struct remote_domain_get_title_ret"]
    typo = "struct remote_domain_get_titel_args {\n    int x;\n};\n" + appended
    assert any("named after no procedure" in f.message for f in
               run("libvirt.remote-structs-named", {X: XDR, **header}, {X: typo, **header}))


def test_the_old_protocol_format_has_no_annotations_to_check() -> None:
    old = "enum remote_procedure {\n    REMOTE_PROC_OPEN = 1 /* autogen autogen */\n};\n"
    new = old.replace(" /* autogen autogen */\n", ", /* autogen autogen */\n    REMOTE_PROC_X = 2 /* skipgen */\n")
    assert run("libvirt.remote-proc-annotated", {X: old}, {X: new}) == []


def test_virsh_aliases_need_no_manual_and_the_pod_manual_counts() -> None:
    before = "const vshCmdDef cmds[] = {\n    {.name = NULL}\n};\n"
    after = before.replace("{.name = NULL}", '{.name = "reset",\n     .handler = cmdReset,\n     .flags = 0\n    },\n'
                                             '    {.name = "dom-reset",\n     .flags = VSH_CMD_FLAG_ALIAS,\n'
                                             '     .alias = "reset"\n    },\n    {.name = NULL}')
    pod = {"tools/virsh.pod": "=item B<reset> I<domain>\n"}
    assert run("libvirt.virsh-command-documented", {"tools/virsh-domain.c": before, **pod},
               {"tools/virsh-domain.c": after, **pod}) == []
    rst = {"docs/manpages/virsh.rst": "resume\n------\n"}
    assert lines(run("libvirt.virsh-command-documented", {"tools/virsh-domain.c": before, **rst},
                     {"tools/virsh-domain.c": after, **rst})) == [2]


def test_whitespace_errors() -> None:
    before = {"src/a.c": "int a;\n", "README.md": "x\n"}
    after = {"src/a.c": "int a;\n \tint b;\nint c; \n\n", "README.md": "x  \ny\n"}
    assert [(f.line, f.message) for f in run("generic.whitespace", before, after)] == [
        (2, "adds space before tab in indent"), (3, "adds trailing whitespace"),
        (4, "adds a blank line at the end of the file")]


def test_subject_and_sign_off() -> None:
    assert run("generic.subject-form", {}, {}, subject='Revert "qemu: Do a thing"') == []
    assert run("generic.subject-form", {}, {}, subject="conf: domain: Parse the title") == []
    long = "qemu: " + "x" * 67
    assert [f.message for f in run("generic.subject-form", {}, {}, subject=long)] == [
        "the subject is 73 characters long (at most 72)"]
    other = "domain: x\n\nSigned-off-by: Someone Else <else@example.org>\n"
    assert "from the author" in run("generic.signed-off-by", {}, {}, message=other)[0].message


def test_an_output_only_parameter_needs_no_args_struct() -> None:
    header = {"include/libvirt/libvirt-host.h": "int virConnectGetLibVersion(virConnectPtr conn,\n"
                                                "                            unsigned long *libVer);\n"}
    new = XDR.replace("\n};\n", NEW_PROC.replace("DOMAIN_GET_TITLE", "CONNECT_GET_LIB_VERSION"))
    assert run("libvirt.remote-structs-named", {X: XDR, **header}, {X: new, **header}) == []


CONF = "src/conf/domain_conf.c"
PARSER = """\
static int
virDomainDefParseXML(xmlXPathContextPtr ctxt)
{
    def->name = virXPathString("string(./name[1])", ctxt);
    return 0;
}

static int
virDomainObjParseXML(xmlXPathContextPtr ctxt)
{
    return 0;
}
"""
SCHEMAS = {"src/conf/schemas/domaincommon.rng": '<grammar>\n  <include href="basictypes.rng"/>\n'
                                                '  <element name="name"/>\n</grammar>\n',
           "src/conf/schemas/basictypes.rng": '<grammar>\n  <attribute name="unit"/>\n</grammar>\n'}


def test_xml_names_known_to_an_included_schema_or_only_in_status_xml_are_not_new() -> None:
    before = {CONF: PARSER, **SCHEMAS}
    unit = PARSER.replace("    return 0;\n}\n\nstatic", '    virXMLPropString(node, "unit");\n    return 0;\n}\n\nstatic', 1)
    assert run("libvirt.xml-change-documented", before, {**before, CONF: unit}) == []
    taint = PARSER.replace("{\n    return 0;", '{\n    n = virXPathNodeSet("./taint", ctxt, &nodes);\n    return 0;')
    assert run("libvirt.xml-change-documented", before, {**before, CONF: taint}) == []
    title = PARSER.replace("    return 0;\n}\n\nstatic", '    def->title = virXPathString("string(./title[1])", ctxt);\n'
                           "    return 0;\n}\n\nstatic", 1)
    found = run("libvirt.xml-change-documented", before, {**before, CONF: title})
    assert lines(found) == [5] and "schema" in found[0].message and "documentation" in found[0].message


def test_the_unsupported_error_may_be_reported_by_its_code() -> None:
    impl = IMPL.replace("virReportUnsupportedError();", 'virReportError(VIR_ERR_NO_SUPPORT, "%s", "nope");')
    syms_only = {"src/libvirt_public.syms": TREE["src/libvirt_public.syms"]}
    assert run("libvirt.entry-checks-driver", syms_only, {**TREE, "src/libvirt-domain.c": impl}) == []
    assert lines(run("libvirt.entry-checks-driver", syms_only, {**TREE, "src/libvirt-domain.c": IMPL.replace(
        "    virReportUnsupportedError();\n", "")})) == [9]


def test_subject_prefixes_libvirt_uses() -> None:
    for subject in ("conf, qemu: Add the title", "qemu_capabilities.c: Probe it", "docs/manpages: Fix a typo"):
        assert run("generic.subject-form", {}, {}, subject=subject) == [], subject


def test_since_is_asked_for_only_where_the_file_s_entry_points_carry_it() -> None:
    # libvirt 7.8 (the netcreateflags series): no entry point of src/libvirt-network.c has Since:
    new = ("\n/**\n * virDomainGetTitleFlags:\n * @domain: a domain object\n * @flags: extra flags\n *\n"
           " * Returns the title.\n */\nchar *\nvirDomainGetTitleFlags(virDomainPtr domain, unsigned int flags)\n"
           "{\n    VIR_DOMAIN_DEBUG(domain, \"flags=0x%x\", flags);\n    virResetLastError();\n    return NULL;\n}\n")
    syms = TREE["src/libvirt_public.syms"].replace("virDomainGetTitle;", "virDomainGetTitle;\n        virDomainGetTitleFlags;")
    old_era = IMPL.replace(" * Since: 1.1.0\n", "")
    assert "Since:" not in old_era
    before = {"src/libvirt-domain.c": old_era, "src/libvirt_public.syms": TREE["src/libvirt_public.syms"]}
    after = {"src/libvirt-domain.c": old_era + new, "src/libvirt_public.syms": syms}
    assert run("libvirt.entry-doc-comment", before, after) == []
    # where the file's entry points do carry it, a new one without is still warned about
    before = {"src/libvirt-domain.c": IMPL, "src/libvirt_public.syms": TREE["src/libvirt_public.syms"]}
    after = {"src/libvirt-domain.c": IMPL + new, "src/libvirt_public.syms": syms}
    [finding] = run("libvirt.entry-doc-comment", before, after)
    assert "Since:" in finding.message
    # and a missing @parameter is a problem in either era
    undocumented = new.replace(" * @flags: extra flags\n", "")
    after = {"src/libvirt-domain.c": old_era + undocumented, "src/libvirt_public.syms": syms}
    [finding] = run("libvirt.entry-doc-comment", before | {"src/libvirt-domain.c": old_era}, after)
    assert "@flags" in finding.message and "Since" not in finding.message
