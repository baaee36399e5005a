#!/usr/bin/env python3
#
# virshtest.py: runs virsh commands against test:///default and
# compares their exit status and output with the expected ones.
#
# Usage: virshtest.py PATH-TO-VIRSH
#
# Every case starts a new virsh process, so every case sees the test
# driver's default domains in their initial state.
#
# Copyright (C) 2026 The demovirt authors.
#
# SPDX-License-Identifier: LGPL-2.1-or-later

import os
import subprocess
import sys

# (arguments, exit status, expected stdout, text expected in stderr)
CASES = [
    (['domstate', 'test'], 0, 'running\n', ''),
    (['domstate', '--reason', 'test'], 0, 'running (booted)\n', ''),
    (['domstate', 'idle'], 0, 'shut off\n', ''),
    (['domstate', '--reason', 'idle'], 0, 'shut off (shutdown)\n', ''),
    (['suspend', 'test'], 0, "Domain 'test' suspended\n", ''),
    (['suspend', 'idle'], 1, '', "Failed to suspend domain 'idle'"),
    (['resume', 'test'], 1, '', "domain 'test' not paused"),
    (['shutdown', 'test'], 0, "Domain 'test' is being shutdown\n", ''),
    (['-r', 'suspend', 'test'], 1, '', 'read only access prevents'),
    (['domstate', 'nosuchdomain'], 1, '',
     "failed to get domain 'nosuchdomain'"),
    (['domstate'], 1, '', "command 'domstate' requires <domain> option"),
    (['nosuchcommand'], 1, '', "unknown command: 'nosuchcommand'"),
]


def main(argv):
    if len(argv) != 2:
        print('usage: %s PATH-TO-VIRSH' % argv[0], file=sys.stderr)
        return 2

    env = dict(os.environ)
    env.pop('VIRSH_DEFAULT_CONNECT_URI', None)
    env.pop('LIBVIRT_DEBUG', None)

    failures = 0
    for number, (args, status, stdout, stderr) in enumerate(CASES, 1):
        argv_ = [argv[1], '-c', 'test:///default'] + args
        proc = subprocess.run(argv_, env=env, capture_output=True,
                              text=True, timeout=30)
        problems = []
        if proc.returncode != status:
            problems.append('exit status %d, expected %d'
                            % (proc.returncode, status))
        if proc.stdout != stdout:
            problems.append('stdout %r, expected %r' % (proc.stdout, stdout))
        if stderr not in proc.stderr:
            problems.append('stderr %r lacks %r' % (proc.stderr, stderr))

        title = 'virsh ' + ' '.join(args)
        print('%3d) %-60s ... %s'
              % (number, title, 'FAILED' if problems else 'OK'))
        for problem in problems:
            print('     ' + problem)
        failures += bool(problems)

    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
