/*
 * libvirt.h: Core interfaces for the demovirt library
 * Summary: core interfaces for the demovirt library
 * Description: Provides the interfaces of the demovirt library to handle
 *              virtualized domains
 *
 * Copyright (C) 2026 The demovirt authors.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef LIBVIRT_H
# define LIBVIRT_H

# include <sys/types.h>

# ifdef __cplusplus
extern "C" {
# endif

# define __VIR_LIBVIRT_H_INCLUDES__
# include <libvirt/libvirt-host.h>
# include <libvirt/libvirt-domain.h>
# include <libvirt/virterror.h>
# undef __VIR_LIBVIRT_H_INCLUDES__

# ifdef __cplusplus
}
# endif

#endif /* LIBVIRT_H */
