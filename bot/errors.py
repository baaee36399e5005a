"""The bot's own faults, as two families.

    SeriesbotError
    ├── UserError      something a person gave us is wrong (config, a command, an argument);
    │   └── ConfigError    the message names the bad key
    └── InfraError     the bot's machinery failed (git fetch, disk, a lost worker): retried, shown to
                       admins, never blamed on a patch author

A patch that does not apply or build is neither: it is a result, stored and reported.
"""


class SeriesbotError(Exception):
    pass


class UserError(SeriesbotError):
    pass


class ConfigError(UserError):
    pass


class InfraError(SeriesbotError):
    pass
