import Daemon

/// What `llama-orch --version` prints: the version, then the git commit the binary was built from when the
/// build knew it (`BuildInfoPlugin`; "-dirty" when the checkout had changes). `scripts/package.sh` names its
/// archive after the first word.
let versionText = BuildInfo.commit.map { "\(DaemonVersion.string) (commit \($0))" } ?? DaemonVersion.string
