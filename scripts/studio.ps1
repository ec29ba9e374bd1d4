# Windows (UNTESTED, see scripts/setup.ps1): set up, then open the studio. Extra arguments are folders to load.
$ErrorActionPreference = "Stop"
& (Join-Path $PSScriptRoot "setup.ps1")
& (Join-Path (Split-Path -Parent $PSScriptRoot) ".venv\Scripts\genstudio.exe") @args
