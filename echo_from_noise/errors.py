"""The one exception type for problems a user can cause (bad input, options, files)."""


class UserError(Exception):
    """A problem with the user's input (file, folder, option): reported in one line, exit 2."""
