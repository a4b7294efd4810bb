"""The package's exception (defined in Python so that it pickles across DataLoader workers)."""


class SluiceError(Exception):
    """A sluice error: a missing or changed manifest, a damaged shard, a bad argument, a
    failed `sluice` command. The message is sluice's."""
