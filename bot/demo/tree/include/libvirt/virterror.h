/*
 * virterror.h: Error handling interfaces for the demovirt library
 * Summary: error handling interfaces for the demovirt library
 * Description: Provides the interfaces of the demovirt library to handle
 *              errors raised while using the library.
 *
 * Copyright (C) 2026 The demovirt authors.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#ifndef LIBVIRT_VIRTERROR_H
# define LIBVIRT_VIRTERROR_H

# ifdef __cplusplus
extern "C" {
# endif

/**
 * virErrorLevel:
 *
 * Indicates the level of an error
 *
 * Since: 0.1.0
 */
typedef enum {
    VIR_ERR_NONE = 0, /* (Since: 0.1.0) */
    VIR_ERR_WARNING = 1,        /* A simple warning (Since: 0.1.0) */
    VIR_ERR_ERROR = 2           /* An error (Since: 0.1.0) */
} virErrorLevel;

/**
 * virErrorDomain:
 *
 * Indicates where an error may have come from.  This is free-form
 * and may be extended in the future.
 *
 * Since: 0.1.0
 */
typedef enum {
    VIR_FROM_NONE = 0, /* (Since: 0.1.0) */
    VIR_FROM_DOM = 6,           /* Error when operating on a domain (Since: 0.1.0) */
    VIR_FROM_TEST = 12,         /* Error from test driver (Since: 0.1.0) */
    VIR_FROM_REMOTE = 13,       /* Error from remote driver (Since: 0.1.0) */
    VIR_FROM_DOMAIN = 20,       /* Error from domain config (Since: 0.1.0) */
} virErrorDomain;

/**
 * virError:
 *
 * A libvirt Error instance.
 *
 * Since: 0.1.0
 */
typedef struct _virError virError;

/**
 * virErrorPtr:
 *
 * Since: 0.1.0
 */
typedef virError *virErrorPtr;
struct _virError {
    int         code;   /* The error code, a virErrorNumber */
    int         domain; /* What part of the library raised this error */
    char       *message;/* human-readable informative error message */
    virErrorLevel level;/* how consequent is the error */
};

/**
 * virErrorNumber:
 *
 * The list of possible errors.
 *
 * Since: 0.1.0
 */
typedef enum {
    VIR_ERR_OK = 0, /* (Since: 0.1.0) */
    VIR_ERR_INTERNAL_ERROR = 1,         /* internal error (Since: 0.1.0) */
    VIR_ERR_NO_MEMORY = 2,              /* memory allocation failure (Since: 0.1.0) */
    VIR_ERR_NO_SUPPORT = 3,             /* no support for this function (Since: 0.1.0) */
    VIR_ERR_NO_CONNECT = 5,             /* can't connect to hypervisor (Since: 0.1.0) */
    VIR_ERR_INVALID_CONN = 6,           /* invalid connection object (Since: 0.1.0) */
    VIR_ERR_INVALID_DOMAIN = 7,         /* invalid domain object (Since: 0.1.0) */
    VIR_ERR_INVALID_ARG = 8,            /* invalid function argument (Since: 0.1.0) */
    VIR_ERR_OPERATION_FAILED = 9,       /* a command to hypervisor failed (Since: 0.1.0) */
    VIR_ERR_NO_DOMAIN = 42,             /* domain not found or unexpectedly
                                           disappeared (Since: 0.1.0) */
    VIR_ERR_OPERATION_DENIED = 45,      /* operation on the object/resource
                                           was denied (Since: 0.1.0) */
    VIR_ERR_OPERATION_INVALID = 55,     /* operation is not applicable at this
                                           time (Since: 0.1.0) */

# ifdef VIR_ENUM_SENTINELS
    VIR_ERR_NUMBER_LAST /* (Since: 5.0.0) */
# endif
} virErrorNumber;

/*
 * Errors can be queried, and reset.
 */

virErrorPtr             virGetLastError         (void);
void                    virResetLastError       (void);
const char *            virGetLastErrorMessage  (void);

# ifdef __cplusplus
}
# endif

#endif /* LIBVIRT_VIRTERROR_H */
