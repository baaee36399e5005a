/*
 * test_driver.h: A "mock" hypervisor for use by application unit tests
 *
 * Copyright (C) 2026 The demovirt authors.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include "internal.h"

int testRegister(void);
