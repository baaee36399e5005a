#!/usr/bin/env python3
#
# Checks that src/remote_protocol-structs describes the wire protocol
# declared in src/remote/remote_protocol.x.
#
# libvirt compares the -structs file with pdwtags output of the
# compiled protocol; demovirt does not compile the protocol, so this
# compares the two files as text:
#
# * every "struct remote_..." of the .x file is in the -structs file,
#   and vice versa;
# * every REMOTE_PROC_... of the .x file is in the -structs file with
#   the same number, and vice versa.
#
# Copyright (C) 2026 The demovirt authors.
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import re
import sys

STRUCT_RE = re.compile(r'^struct\s+(remote_\w+)\s*\{', re.MULTILINE)
PROC_RE = re.compile(r'^\s*(REMOTE_PROC_\w+)\s*=\s*(\d+)\s*,?\s*$',
                     re.MULTILINE)


def read(path):
    with open(path, encoding='utf-8') as fh:
        return fh.read()


def procedures(text):
    start = text.find('enum remote_procedure')
    if start < 0:
        return {}
    return {name: int(num) for name, num in PROC_RE.findall(text[start:])}


def compare(kind, declared, described):
    errors = []
    for name in sorted(set(declared) - set(described)):
        errors.append('%s %s is in remote_protocol.x but not in '
                      'remote_protocol-structs' % (kind, name))
    for name in sorted(set(described) - set(declared)):
        errors.append('%s %s is in remote_protocol-structs but not in '
                      'remote_protocol.x' % (kind, name))
    return errors


def main(argv):
    if len(argv) != 3:
        print('usage: %s REMOTE_PROTOCOL_X REMOTE_PROTOCOL_STRUCTS' % argv[0],
              file=sys.stderr)
        return 2

    protocol = read(argv[1])
    structs = read(argv[2])

    errors = compare('struct',
                     STRUCT_RE.findall(protocol), STRUCT_RE.findall(structs))

    declared = procedures(protocol)
    described = procedures(structs)
    if not declared:
        errors.append('no REMOTE_PROC_ entries found in %s' % argv[1])
    errors += compare('procedure', declared, described)
    for name in sorted(set(declared) & set(described)):
        if declared[name] != described[name]:
            errors.append('procedure %s is %d in remote_protocol.x but %d in '
                          'remote_protocol-structs'
                          % (name, declared[name], described[name]))

    for error in errors:
        print('ERROR: %s' % error, file=sys.stderr)
    if errors:
        return 1

    print('checked %d procedures' % len(declared))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
