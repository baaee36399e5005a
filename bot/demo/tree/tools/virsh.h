/*
 * virsh.h: a shell to exercise the demovirt API
 *
 * A much reduced version of libvirt's vsh/virsh infrastructure: every
 * command is a vshCmdDef in a command group table, with its options in
 * a vshCmdOptDef array and its help in a vshCmdInfo.
 *
 * Copyright (C) 2026 The demovirt authors.
 *
 * SPDX-License-Identifier: LGPL-2.1-or-later
 */

#pragma once

#include <stdbool.h>

#include "internal.h"

#define VIRSH_MAX_ARGS 8

typedef struct _vshControl vshControl;
typedef struct _vshCmd vshCmd;
typedef struct _vshCmdDef vshCmdDef;
typedef struct _vshCmdInfo vshCmdInfo;
typedef struct _vshCmdOpt vshCmdOpt;
typedef struct _vshCmdOptDef vshCmdOptDef;
typedef struct _vshCmdGrp vshCmdGrp;

/*
 * vshCmdOptType - command option type
 */
typedef enum {
    VSH_OT_BOOL,     /* optional boolean option */
    VSH_OT_STRING,   /* optional string option */
    VSH_OT_DATA,     /* string data (as non-option) */
} vshCmdOptType;

/*
 * Command Option Flags
 */
enum {
    VSH_OFLAG_NONE     = 0,        /* without flags */
    VSH_OFLAG_REQ      = (1 << 0), /* option required */
};

/*
 * vshCmdInfo -- name/value pair for information about command
 */
struct _vshCmdInfo {
    const char *help; /* short description of command */
    const char *desc; /* command description */
};

/*
 * vshCmdOptDef - command option definition
 */
struct _vshCmdOptDef {
    const char *name;           /* the name of option, or NULL for list end */
    vshCmdOptType type;         /* option type */
    unsigned int flags;         /* flags */
    const char *help;           /* non-NULL help string */
};

/*
 * vshCmdOpt - command options
 */
struct _vshCmdOpt {
    const vshCmdOptDef *def;    /* non-NULL pointer to option definition */
    const char *data;           /* allocated data, or NULL for bool option */
};

/*
 * vshCmdDef - command definition
 */
struct _vshCmdDef {
    const char *name;           /* name of command, or NULL for list end */
    bool (*handler) (vshControl *, const vshCmd *);    /* command handler */
    const vshCmdOptDef *opts;   /* definition of command options */
    const vshCmdInfo *info;     /* details about command */
    unsigned int flags;         /* bitwise OR of VSH_CMD_FLAG */
};

/*
 * vshCmd - parsed command
 */
struct _vshCmd {
    const vshCmdDef *def;       /* command definition */
    vshCmdOpt opts[VIRSH_MAX_ARGS]; /* parsed options */
    size_t nopts;
};

/*
 * vshControl
 */
struct _vshControl {
    virConnectPtr conn;         /* connection to hypervisor */
    const char *connname;       /* connection name */
    bool readonly;              /* connect readonly (first time only, not
                                 * during explicit connect command)
                                 */
};

struct _vshCmdGrp {
    const char *name;    /* name of group, or NULL for list end */
    const char *keyword; /* help keyword */
    const vshCmdDef *commands;
};

#define VIRSH_COMMON_OPT_DOMAIN_FULL \
    {.name = "domain", \
     .type = VSH_OT_DATA, \
     .flags = VSH_OFLAG_REQ, \
     .help = N_("domain name") \
    }

bool vshCommandOptBool(const vshCmd *cmd, const char *name);
int vshCommandOptStringReq(vshControl *ctl, const vshCmd *cmd,
                           const char *name, const char **value);
virDomainPtr virshCommandOptDomain(vshControl *ctl, const vshCmd *cmd,
                                   const char **name);

void vshPrint(vshControl *ctl, const char *format, ...)
    ATTRIBUTE_FMT_PRINTF(2, 3);
void vshError(vshControl *ctl, const char *format, ...)
    ATTRIBUTE_FMT_PRINTF(2, 3);
