# Windows setup (UNTESTED: written to mirror scripts/setup.sh, never run on Windows by this project's CI).
# Creates .venv, picks the PyTorch build (scripts/torch_backend.py: an NVIDIA GPU and its driver -> the
# matching CUDA build, else CPU; $env:GENSTUDIO_TORCH_BACKEND overrides), records it in
# .venv\genstudio-torch.json, and installs genstudio. Run:  powershell -ExecutionPolicy Bypass -File scripts\setup.ps1
$ErrorActionPreference = "Stop"
$root = Split-Path -Parent $PSScriptRoot
Set-Location $root
$venv = Join-Path $root ".venv"
$py = Join-Path $venv "Scripts\python.exe"
if (-not (Test-Path $py)) { py -3.11 -m venv $venv }
$pin = if ($env:GENSTUDIO_TORCH) { $env:GENSTUDIO_TORCH } else { "2.13.0" }
$choice = & $py scripts\torch_backend.py --json | ConvertFrom-Json
$record = Join-Path $venv "genstudio-torch.json"
$recorded = if (Test-Path $record) { Get-Content $record | ConvertFrom-Json } else { $null }
if (-not $recorded -or $recorded.pinned -ne $pin -or $recorded.backend -ne $choice.backend) {
    Write-Host "setup: PyTorch $pin, $($choice.backend) build: $($choice.reason)"
    $args = @("-m", "pip", "install", "--force-reinstall", "torch==$pin")
    if ($choice.index) { $args += @("--index-url", $choice.index) }
    & $py @args
    $env:TORCH_CHOICE = ($choice | ConvertTo-Json -Compress)
    $env:TORCH_PIN = $pin
    $env:TORCH_SOURCE = if ($choice.index) { $choice.index } else { "the package index" }
    & $py scripts\torch_backend.py --record $record
}
& $py -m pip install -q -e ".[dev]"
Write-Host "setup: done. Start the studio with:  .venv\Scripts\genstudio.exe"
