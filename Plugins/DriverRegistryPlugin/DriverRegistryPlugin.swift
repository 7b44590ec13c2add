import PackagePlugin

/// Generates the list of backend driver types from the Swift sources of the target it is applied to
/// (the `Drivers` module in `drivers/`), so a new driver folder needs no edit to Package.swift.
@main
struct DriverRegistryPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: any Target) throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        let sources = target.sourceFiles(withSuffix: "swift").map(\.url)
        let output = context.pluginWorkDirectoryURL.appending(path: "DriverRegistry.generated.swift")
        return [
            .buildCommand(
                displayName: "Listing backend drivers in \(target.name)",
                executable: try context.tool(named: "DriverRegistryGenerator").url,
                arguments: [output.path()] + sources.map { $0.path() },
                inputFiles: sources,
                outputFiles: [output]
            )
        ]
    }
}
