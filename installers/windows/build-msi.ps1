# Builds target\windows\card-agent-<version>-x64.msi with WiX v4 (prepared, not yet run):
#   dotnet tool install --global wix --version 4.*
#   wix extension add --global WixToolset.Util.wixext/4
#   cargo build --release -p card-agent
#   pwsh installers\windows\build-msi.ps1 [-BinDir target\release\] [-Arch x64|arm64]
# Sign the result with signtool (Authenticode) before distributing it.
param(
    [string]$BinDir = "",
    [ValidateSet("x64", "arm64")][string]$Arch = "x64"
)
$ErrorActionPreference = "Stop"
$here = $PSScriptRoot
$repo = Resolve-Path (Join-Path $here "..\..")
if ($BinDir -eq "") { $BinDir = Join-Path $repo "target\release\" }
if (-not $BinDir.EndsWith("\")) { $BinDir += "\" }
if (-not (Test-Path (Join-Path $BinDir "card-agent.exe"))) {
    throw "card-agent.exe not found in $BinDir (cargo build --release -p card-agent)"
}
# The version is written once, in the workspace's Cargo.toml.
$inWorkspace = $false
$version = $null
foreach ($line in Get-Content (Join-Path $repo "Cargo.toml")) {
    if ($line -match '^\[workspace\.package\]') { $inWorkspace = $true; continue }
    if ($line -match '^\[') { $inWorkspace = $false }
    if ($inWorkspace -and $line -match '^version\s*=\s*"([^"]+)"') { $version = $Matches[1]; break }
}
if (-not $version) { throw "no version in Cargo.toml" }
$out = Join-Path $repo "target\windows"
New-Item -ItemType Directory -Force -Path $out | Out-Null
$msi = Join-Path $out "card-agent-$version-$Arch.msi"
wix build -arch $Arch -ext WixToolset.Util.wixext `
    -d "Version=$version" -d "BinDir=$BinDir" `
    (Join-Path $here "card-agent.wxs") (Join-Path $here "native-messaging.wxs") `
    -o $msi
if ($LASTEXITCODE -ne 0) { throw "wix build failed" }
Write-Output $msi
