import Foundation
import PackagePlugin

/// Writes `BuildInfo.commit`, the git commit the target is built from (`nil` outside a git checkout), so
/// `llama-orch --version` can say which source a binary came from.
///
/// A prebuild command, because the commit changes without any file of the package changing: it runs before
/// every build (one `git rev-parse` and one `git diff`, a few milliseconds) and rewrites the file only when
/// the commit changed, so an unchanged commit recompiles nothing.
@main
struct BuildInfoPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        let output = context.pluginWorkDirectoryURL.appending(path: "BuildInfo")
        let file = output.appending(path: "BuildInfo.generated.swift").path()
        let script = """
            commit=$(git -C "$1" rev-parse --short=12 HEAD 2>/dev/null) \
            && { git -C "$1" diff --quiet HEAD 2>/dev/null || commit="$commit-dirty"; } \
            && value="\\"$commit\\"" || value=nil
            mkdir -p "$(dirname "$2")"
            printf '/// The git commit this binary was built from; nil outside a git checkout.\\n' > "$2.new"
            printf 'enum BuildInfo {\\n    static let commit: String? = %s\\n}\\n' "$value" >> "$2.new"
            if cmp -s "$2.new" "$2"; then rm "$2.new"; else mv "$2.new" "$2"; fi
            """
        return [
            .prebuildCommand(
                displayName: "Recording the git commit of \(target.name)",
                executable: URL(filePath: "/bin/sh"),
                arguments: ["-c", script, "sh", context.package.directoryURL.path(), file],
                outputFilesDirectory: output
            )
        ]
    }
}
