/// Instance configs more than one suite uses.
public enum ConfigExamples {
    /// The original design's README example, unchanged.
    public static let original = """
        {"name": "gpt-oss",
         "model": {"path": "../../models/gpt-oss-20b-Q4_K_S.gguf", "context_size": 4096, "batch_size": 512, "threads": 16},
         "server": {"host": "127.0.0.1", "port": 8001, "parallel": 4},
         "gpu": {"backend": "vulkan", "device_id": 1, "layers": 30},
         "healthcheck": {"interval": 10, "timeout": 5, "retries": 3},
         "restart_policy": {"enabled": true, "max_retries": 5}}
        """
}
