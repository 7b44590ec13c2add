import PackagePlugin

@main
struct NewDriver: CommandPlugin {
    func performCommand(context: PluginContext, arguments: [String]) async throws {}
}
