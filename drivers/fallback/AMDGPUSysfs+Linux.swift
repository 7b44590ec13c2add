import OrchestratorCore

/// What Linux's amdgpu driver says about each card in `/sys/class/drm/card*/device`.
enum AMDGPUSysfs {
    /// One amdgpu card.
    struct Card: Equatable {
        var card: String
        var pciBusID: String?
        var totalBytes: UInt64
        var usedBytes: UInt64
    }

    /// Cards with `mem_info_vram_total` (only amdgpu has it), sorted by card name.
    static func cards(in files: HostFileSystem) -> [Card] {
        files.list("/sys/class/drm").filter { $0.hasPrefix("card") && !$0.contains("-") }.compactMap { card in
            let device = "/sys/class/drm/\(card)/device"
            guard let total = files.readNumber(device + "/mem_info_vram_total"), total > 0 else { return nil }
            let used = files.readNumber(device + "/mem_info_vram_used") ?? 0
            let bus = files.linkTarget(device).map { String($0.split(separator: "/").last ?? "") }
            return Card(card: card, pciBusID: bus?.isEmpty == false ? bus : nil, totalBytes: total, usedBytes: used)
        }
    }

    /// Adds sysfs facts to the listed devices where a card can be matched without guessing (one amdgpu
    /// card and one AMD device listed); other cards are listed on their own, with no llama.cpp name.
    static func merge(_ cards: [Card], into devices: [Device]) -> [Device] {
        guard !cards.isEmpty else { return devices }
        var devices = devices
        let amd = devices.indices.filter { index in
            devices[index].llamaName?.hasPrefix("ROCm") == true
                || ["AMD", "Radeon"].contains { devices[index].description.contains($0) }
        }
        var unmatched = cards
        if cards.count == 1, amd.count == 1, let card = cards.first {
            devices[amd[0]].pciBusID = card.pciBusID
            devices[amd[0]].vendor = "AMD (0x1002)"
            devices[amd[0]].details["sysfs_vram_total_bytes"] = String(card.totalBytes)
            devices[amd[0]].details["sysfs_vram_used_bytes"] = String(card.usedBytes)
            unmatched = []
        }
        for card in unmatched {
            devices.append(
                Device(
                    id: card.pciBusID ?? "sysfs:\(card.card)", backend: FallbackDriver.name, llamaName: nil,
                    description: "amdgpu \(card.card) (sysfs; llama-server lists it under another name or not at all)",
                    kind: .discrete, vendor: "AMD (0x1002)", totalBytes: card.totalBytes,
                    freeBytes: card.totalBytes > card.usedBytes ? card.totalBytes - card.usedBytes : 0,
                    pciBusID: card.pciBusID, details: ["source": "/sys/class/drm/\(card.card)/device"]))
        }
        return devices
    }
}
