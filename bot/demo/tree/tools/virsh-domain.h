/*
 * virsh-domain.h: Commands to manage domain
 *
 * Copyright (C) 2026 The demovirt authors.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "virsh.h"

extern const vshCmdDef domManagementCmds[];
