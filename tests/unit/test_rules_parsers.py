"""The compiler-free parsers on libvirt's own formatting (snippets in the shape of libvirt's files)."""

from __future__ import annotations

from workers.rules.cparse import (
    blank_comments,
    designated_initializers,
    driver_calls,
    fnptr_typedefs,
    function_defs,
    parse_params,
    prototypes,
    struct_members,
)
from workers.rules.docparse import api_doc, rng_names, rst_headings, virsh_commands, xml_names, xpath_names
from workers.rules.symsparse import project_version, section_version, syms_sections
from workers.rules.xdrparse import procedures, structs, uses_annotations

HEADER = """\
#ifndef LIBVIRT_H
# define LIBVIRT_H
# ifdef __cplusplus
extern "C" {
# endif

/**
 * virConnectAuthPtrDefault:
 *
 * int virNotAPrototype(void); -- in a comment
 */
VIR_EXPORT_VAR virConnectAuthPtr virConnectAuthPtrDefault;

typedef int (*virConnectAuthCallbackPtr)(virConnectCredentialPtr cred,
                                         unsigned int ncred,
                                         void *cbdata);
typedef enum {
    VIR_DOMAIN_NOSTATE = 0, /* int virNorThis(void); */
} virDomainState;

int                     virDomainShutdown       (virDomainPtr domain);
int virDomainSetTitle(virDomainPtr domain,
                      const char *title,
                      unsigned int flags);
char *virDomainGetHostname(virDomainPtr domain,
                           unsigned int flags) G_GNUC_WARN_UNUSED_RESULT;
# define VIR_DOMAIN_SCHED_FIELD_LENGTH(x) \\
    virFoo(x);
int (*virSomeCallback)(int x);
VIR_DEPRECATED int virDomainOld(virDomainPtr dom) __attribute__((deprecated("use new")));
# ifdef __cplusplus
}
# endif
#endif
"""


def test_prototypes_in_a_libvirt_header() -> None:
    found = {p.name: p.line for p in prototypes(HEADER)}
    assert found == {"virDomainShutdown": 21, "virDomainSetTitle": 22, "virDomainGetHostname": 25,
                     "virDomainOld": 30}


def test_blank_comments_keeps_lines_and_hides_strings() -> None:
    text = 'a /* x\n y */ b "/* not a comment */" // c\nd'
    clean = blank_comments(text)
    assert clean.count("\n") == text.count("\n") and "not" not in clean and clean.endswith("d")


def test_parameters() -> None:
    params = parse_params("virDomainPtr dom, const char *name G_GNUC_UNUSED, unsigned char cpumap[],"
                          " int (*cb)(int), unsigned int flags")
    assert [(p.type, p.name, p.is_pointer) for p in params] == [
        ("virDomainPtr", "dom", True), ("const char *", "name", True), ("unsigned char *", "cpumap", True),
        ("int (*)()", "cb", True), ("unsigned int", "flags", False)]
    assert parse_params("void") == ()


IMPL = """\
/**
 * virDomainSetTitle:
 * @domain: a domain object
 * @title: the new title, which
 *   may be NULL to remove it
 * @flags: extra flags
 *
 * Since: 1.1.0
 */
int
virDomainSetTitle(virDomainPtr domain,
                  const char *title,
                  unsigned int flags)
{
    VIR_DOMAIN_DEBUG(domain, "title=%s", NULLSTR(title));
    if (conn->driver->domainSetTitle) {
        ret = conn->driver->domainSetTitle(domain, title, flags);
    }
    ret = conn->networkDriver->networkFoo(conn);
}

static const char *
helper(const char *fmt, ...)
    G_GNUC_PRINTF(1, 2)
{
    return "{";
}
"""


def test_function_definitions_and_driver_calls() -> None:
    defs = function_defs(IMPL)
    fn = defs["virDomainSetTitle"]
    assert (fn.line, fn.body_start, fn.end_line, fn.return_type) == (11, 14, 20, "int")
    assert [p.name for p in fn.params] == ["domain", "title", "flags"]
    assert defs["helper"].return_type == "const char *"
    assert [p.name for p in defs["helper"].params] == ["fmt"]
    calls = driver_calls(fn.body)
    assert [(c.table, c.member, c.guarded, fn.line_at(c.offset)) for c in calls] == [
        ("driver", "domainSetTitle", True, 17), ("networkDriver", "networkFoo", False, 19)]
    title, params, since = api_doc(fn.doc)
    assert title == "virDomainSetTitle" and since
    assert params["title"] == "the new title, which may be NULL to remove it"


DRIVER = """\
typedef int
(*virDrvDomainSetTitle)(virDomainPtr domain,
                        const char *title);

struct _virHypervisorDriver {
    const char *name; /* the name of the driver */
    virDrvDomainSetTitle domainSetTitle;
};

static virHypervisorDriver testHypervisorDriver = {
    .name = "Test",
    .domainSetTitle = testDomainSetTitle, /* 1.1.0 */
};
"""


def test_driver_structs_typedefs_and_tables() -> None:
    assert struct_members(DRIVER)["_virHypervisorDriver"] == {"name": ("char", 6),
                                                              "domainSetTitle": ("virDrvDomainSetTitle", 7)}
    assert fnptr_typedefs(DRIVER) == {"virDrvDomainSetTitle": 2}
    assert designated_initializers(DRIVER) == {"name": ('"    "', 11),
                                               "domainSetTitle": ("testDomainSetTitle", 12)}


SYMS = """\
# comment { not a section }
LIBVIRT_0.0.3 {
    global:
        virConnectClose;
};

LIBVIRT_1.1.0 {
    global:
        virDomainSetTitle;
} LIBVIRT_0.0.3;

# .... define new API here using predicted next version number ....
"""


def test_syms_sections_and_versions() -> None:
    sections = syms_sections(SYMS)
    assert [(s.name, s.parent, s.line, s.end_line, s.symbols) for s in sections] == [
        ("LIBVIRT_0.0.3", None, 2, 5, {"virConnectClose": 4}),
        ("LIBVIRT_1.1.0", "LIBVIRT_0.0.3", 7, 10, {"virDomainSetTitle": 9})]
    assert section_version("LIBVIRT_1.2.19") == (1, 2, 19) and section_version("LIBVIRT_PRIVATE") is None
    meson = "project(\n  'libvirt', 'c',\n  meson_version: '>= 0.56.0',\n  version: '10.2.0',\n  default_options: [],\n)\n"
    assert project_version(meson) == (10, 2, 0)


XDR = """\
struct remote_domain_set_title_args {
    remote_nonnull_domain dom;
};
enum remote_procedure {
    /* Each function must be preceded by a comment providing one or
     * more annotations:
     *
     * - @generate: none|client|server|both
     */

    /**
     * @generate: none
     * @acl: connect:getattr
     */
    REMOTE_PROC_CONNECT_OPEN = 1,

    REMOTE_PROC_CONNECT_CLOSE = 2,

    /**
     * @priority: high
     * @generate:both
     * @acl: domain:write
     * @acl: domain:save:!VIR_DOMAIN_AFFECT_CONFIG|VIR_DOMAIN_AFFECT_LIVE
     */
    REMOTE_PROC_DOMAIN_SET_TITLE = 3
};
"""


def test_xdr_procedures_with_annotations() -> None:
    procs = procedures(XDR)
    assert [(p.name, p.number, p.line) for p in procs] == [
        ("REMOTE_PROC_CONNECT_OPEN", 1, 15), ("REMOTE_PROC_CONNECT_CLOSE", 2, 17),
        ("REMOTE_PROC_DOMAIN_SET_TITLE", 3, 25)]
    assert procs[0].annotations == {"generate": ["none"], "acl": ["connect:getattr"]}
    assert procs[1].annotations == {}  # the explanatory comment is not its annotation
    assert procs[2].annotations["generate"] == ["both"] and len(procs[2].annotations["acl"]) == 2
    assert (procs[2].stem, procs[2].key) == ("domain_set_title", "domainsettitle")
    assert structs(XDR) == {"remote_domain_set_title_args": 1}
    assert uses_annotations(XDR) and not uses_annotations("REMOTE_PROC_X = 1, /* autogen autogen */")


VIRSH = """\
static const vshCmdOptDef opts_reset[] = {
    {.name = "force",
     .type = VSH_OT_BOOL,
    },
    {.name = NULL}
};

const vshCmdDef domManagementCmds[] = {
    {.name = "dom-reset",
     .flags = VSH_CMD_FLAG_ALIAS,
     .alias = "reset"
    },
    {.name = "reset",
     .handler = cmdReset,
     .flags = 0
    },
    {.name = NULL}
};
"""


def test_virsh_commands_skip_options_and_mark_aliases() -> None:
    assert [(c.name, c.line, c.is_alias) for c in virsh_commands(VIRSH)] == [("dom-reset", 9, True),
                                                                             ("reset", 13, False)]


def test_manual_headings_xml_names_and_schema_names() -> None:
    assert rst_headings("reset\n-----\n\n**Syntax:**\n\nDOMAIN COMMANDS\n===============\n") == {
        "reset", "DOMAIN COMMANDS"}
    assert xpath_names("string(./devices/disk[1]/target/@dev)") == {"devices", "disk", "target", "dev"}
    line = 'if (virXMLPropTristateBool(node, "discard", VIR_XML_PROP_NONE, &x) < 0 || virXMLNodeNameEqual(cur, "boot"))'
    assert xml_names(line) == {"discard", "boot"}
    assert rng_names('<element name="title">\n<attribute name="type"/><element>\n<name>x</name>') == {
        "title", "type", "x"}
