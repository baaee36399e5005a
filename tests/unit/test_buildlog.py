"""Build and configure logs -> the messages a person needs (pure; golden lines shaped like real gcc,
GNU ld, ninja and meson output from a libvirt build)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from workers.buildlog import Paths, compiled_sources, not_built, parse_build_log, parse_setup_log

ROOT = Path("/srv/seriesbot/data/work/w1/libvirt")
PATHS = Paths(ROOT / "src", ROOT / "build")
WARNING = ("../src/src/util/virbitmap.h:62:13: warning: 'G_GNUC_NO_INLINE' is deprecated: Not available before "
           "2.58 [-Wdeprecated-declarations]")


def test_the_error_after_thousands_of_warnings_is_found_and_warnings_are_counted_apart():
    log = ["[1/1071] Compiling C object src/util/libvirt_util.a.p/virbitmap.c.o"]
    for i in range(3000):
        log += [f"[{i + 2}/1071] Compiling C object src/x{i}.c.o", WARNING.replace(":62:", f":{62 + i}:")]
    log += [
        "[3002/1071] Compiling C object src/libvirt_driver_test.a.p/test_test_driver.c.o",
        "FAILED: src/libvirt_driver_test.a.p/test_test_driver.c.o",
        "cc -Isrc/libvirt_driver_test.a.p -Isrc -I../src/src -c ../src/src/test/test_driver.c",
        "../src/src/test/test_driver.c: In function ‘testNetworkCreateXML’:",
        "../src/src/test/test_driver.c:5615:12: error: too few arguments to function ‘testNetworkCreateXMLFlags’",
        " 5615 |     return testNetworkCreateXMLFlags(conn, xml);",
        "ninja: build stopped: subcommand failed.",
    ]
    report = parse_build_log(log, PATHS)
    assert [str(e) for e in report.errors] == [
        "src/test/test_driver.c:5615:12: error: too few arguments to function ‘testNetworkCreateXMLFlags’ "
        "(in function 'testNetworkCreateXML')"]
    assert report.errors[0].target == "build/src/libvirt_driver_test.a.p/test_test_driver.c.o"
    assert report.error_count == 1 and report.warning_count == 3000 and len(report.warnings) == 50
    assert report.warnings[0].path == "src/util/virbitmap.h"


def test_a_linker_error_names_its_target_and_function_with_readable_paths():
    log = [
        "[1041/1071] Linking target src/libvirtd",
        "FAILED: src/libvirtd",
        "cc  -o src/libvirtd src/libvirtd.p/remote_remote_daemon.c.o -Wl,--as-needed",
        "/usr/bin/ld: src/libvirtd.p/remote_remote_daemon_dispatch.c.o: in function "
        "`remoteDispatchNetworkCreateXMLFlags':",
        f"{ROOT}/build/src/remote/remote_daemon_dispatch_stubs.h:13808: undefined reference to "
        "`virNetworkCreateXMLFlags'",
        "collect2: error: ld returned 1 exit status",
        "[1042/1071] Linking target tools/virsh",
    ]
    report = parse_build_log(log, PATHS)
    [error] = report.errors
    assert str(error) == ("build/src/remote/remote_daemon_dispatch_stubs.h:13808: error: undefined reference to "
                          "`virNetworkCreateXMLFlags' (in function 'remoteDispatchNetworkCreateXMLFlags')")
    assert error.target == "build/src/libvirtd" and report.failed_targets == ["build/src/libvirtd"]
    assert "/srv/" not in str(error)


def test_a_target_that_fails_without_a_compiler_message_still_says_why():
    log = ["[5/9] Generating src/remote/remote_protocol.c with a custom command",
           "FAILED: src/remote/remote_protocol.c",
           "/usr/bin/python3 ../src/scripts/rpcgen/main.py --mode=source ../src/src/remote/remote_protocol.x",
           "rpcgen: remote_protocol.x, line 4021: syntax error",
           "[6/9] Compiling C object x.o"]
    [error] = parse_build_log(log, PATHS).errors
    assert error.text == "rpcgen: remote_protocol.x, line 4021: syntax error"
    assert error.target == "build/src/remote/remote_protocol.c"


def test_one_header_error_seen_by_many_objects_is_reported_once():
    log = []
    for obj in ("a", "b", "c"):
        log += [f"[1/3] Compiling C object {obj}.o", f"FAILED: {obj}.o", f"cc -c ../src/{obj}.c",
                "../src/src/util/virfoo.h:10:5: error: unknown type name 'virBar'"]
    report = parse_build_log(log, PATHS)
    assert len(report.errors) == 1 and report.error_count == 1 and len(report.failed_targets) == 3


def test_meson_configure_error_with_the_lines_that_led_to_it():
    log = ["The Meson build system", "Program rst2html5 found: YES (/usr/bin/rst2html5)",
           "Configuring libvirt_functions.stp using configuration",
           f"../src/src/util/meson.build:138:0: ERROR: Program '{ROOT}/src/src/keycodemapdb/tools/keymap-gen' "
           "not found or not executable",
           "", f"A full log can be found at {ROOT}/build/meson-logs/meson-log.txt"]
    [error] = parse_setup_log(log, PATHS)
    assert error.path == "src/util/meson.build" and error.line == 138 and error.kind == "error"
    assert error.text.startswith("Program 'src/keycodemapdb/tools/keymap-gen' not found or not executable")
    assert "Configuring libvirt_functions.stp" in error.text and "/srv/" not in error.text


def test_a_meson_error_when_ninja_reconfigures_is_an_error_of_the_build():
    log = ["[0/1] Regenerating build files.", "FAILED: build.ninja", "/usr/bin/meson --internal regenerate",
           "../src/meson.build:12:0: ERROR: Unknown variable \"foo\".", "ninja: error: rebuilding 'build.ninja': "
           "subcommand failed"]
    errors = parse_build_log(log, PATHS).errors
    assert [str(e) for e in errors][:1] == ['meson.build:12: error: Unknown variable "foo".']


def test_not_built_here_comes_from_the_compile_database(tmp_path):
    build = tmp_path / "build"
    build.mkdir()
    import json

    (build / "compile_commands.json").write_text(json.dumps([
        {"directory": str(build), "file": "../src/src/network/bridge_driver.c", "command": "cc"},
        {"directory": str(build), "file": f"{tmp_path}/src/src/test/test_driver.c", "command": "cc"}]))
    paths = Paths(tmp_path / "src", build)
    compiled = compiled_sources(build, paths)
    assert compiled == {"src/network/bridge_driver.c", "src/test/test_driver.c"}
    changed = ["src/network/bridge_driver.c", "src/vbox/vbox_network.c", "include/libvirt/libvirt-network.h",
               "docs/manpages/virsh.rst"]
    assert not_built(changed, compiled) == ["src/vbox/vbox_network.c"]
    assert not_built(changed, None) == []


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["w", "e1", "e2", "w2"]), min_size=1, max_size=400))
def test_every_distinct_error_is_found_wherever_the_warnings_fall(order):
    lines = {"w": WARNING, "w2": WARNING.replace(":62:13", ":70:1"),
             "e1": "../src/src/a.c:1:1: error: one", "e2": "../src/src/b.c:2:2: error: two"}
    report = parse_build_log([lines[k] for k in order], PATHS)
    expected = list(dict.fromkeys(k for k in order if k.startswith("e")))
    assert [e.text for e in report.errors] == [{"e1": "one", "e2": "two"}[k] for k in expected]
    assert report.warning_count == len({k for k in order if k.startswith("w")})
