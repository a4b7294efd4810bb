# Source this: prepares libtorch (cached) and points the build at it.
#   source scripts/env.sh
_sluice_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIBTORCH=$("$_sluice_root/scripts/setup-libtorch.sh") || return 1
export LIBTORCH
export LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
unset _sluice_root
