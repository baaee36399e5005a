"""Where a submodule is mirrored from (pure): the project's mapping first, else .gitmodules' URL, a
relative one resolved as git does; names a patch could use to escape are refused."""

from pathlib import Path

from workers.tree import SUBMODULE_NAME_RE, ProjectTree, Submodule, submodule_url


def test_mapping_wins_and_relative_urls_resolve_against_upstream():
    web = ProjectTree(Path("/w"), "https://gitlab.com/libvirt/libvirt.git", "master")
    assert submodule_url(web, Submodule("keycodemapdb", "src/keycodemapdb", "../keycodemapdb.git")) == \
        "https://gitlab.com/libvirt/keycodemapdb.git"
    local = ProjectTree(Path("/w"), "/srv/up/libvirt.git", "master", (("src/keycodemapdb", "/srv/m/kc.git"),))
    assert submodule_url(local, Submodule("keycodemapdb", "src/keycodemapdb", "https://x/kc.git")) == "/srv/m/kc.git"
    assert submodule_url(local, Submodule("other", "src/other", "../other.git")) == "/srv/up/other.git"
    assert local.submodule_mirror("https://gitlab.com/keycodemap/keycodemapdb.git").name == \
        "gitlab.com_keycodemap_keycodemapdb.git.git"


def test_unsafe_submodule_names_and_paths_are_refused():
    for bad in ("../../etc", "-c", "a/../b", ""):
        assert not SUBMODULE_NAME_RE.match(bad), bad
    assert SUBMODULE_NAME_RE.match("src/keycodemapdb")
