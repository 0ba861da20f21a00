"""The one exception type for problems a user can cause (bad input, options, files)."""


class UserError(Exception):
    """A problem with the user's input (file, folder, option): reported in one line, exit 2."""


class AlreadyReported(UserError):
    """A UserError whose one line its cause has printed already (e.g. a program run as a
    subprocess): exit status 2 with nothing more to print."""
