package io.istiovm.agent.netfilter;

import java.io.IOException;
import java.util.List;
import java.util.Optional;

/**
 * Chooses nft or legacy the way the host does: the backend that already holds rules wins; when both or neither
 * hold rules, the one plain {@code iptables} uses (Debian's alternatives). The agent's chains in the other backend
 * are refused, because the two sets would both act on packets while each tool shows only half (istio#23279).
 */
final class BackendDetector {
    private BackendDetector() {
    }

    static Backend choose(NetfilterTools tools, String configured) throws CaptureException {
        Optional<String> nft = saveOutput(tools, Backend.NFT);
        Optional<String> legacy = saveOutput(tools, Backend.LEGACY);
        Backend chosen;
        if (!"auto".equals(configured)) {
            chosen = Backend.parse(configured);
        } else if (nft.isEmpty() && legacy.isEmpty()) {
            throw new CaptureException("neither iptables-nft-save nor iptables-legacy-save runs; is iptables "
                    + "installed?");
        } else if (nft.isEmpty() || legacy.isEmpty()) {
            chosen = nft.isPresent() ? Backend.NFT : Backend.LEGACY;
        } else if (hasRules(nft.get()) != hasRules(legacy.get())) {
            chosen = hasRules(nft.get()) ? Backend.NFT : Backend.LEGACY;
        } else {
            chosen = defaultBackend(tools);
        }
        Optional<String> other = chosen == Backend.NFT ? legacy : nft;
        if (other.isPresent() && !SavedRules.parse(IpFamily.IPV4, other.get()).isEmpty()) {
            throw new CaptureException("the agent's chains exist in the " + chosen.other().suffix()
                    + " backend, but this host uses " + chosen.suffix() + "; remove them with 'iptables-"
                    + chosen.other().suffix() + "-save' / 'istio-vm-agent iptables clean' under "
                    + "VM_AGENT_IPTABLES_BACKEND=" + chosen.other().suffix() + " before mixing backends");
        }
        return chosen;
    }

    private static Optional<String> saveOutput(NetfilterTools tools, Backend backend) {
        try {
            CommandRunner.Result result = tools.run(backend.program(IpFamily.IPV4, "save"), List.of(), "");
            return result.ok() ? Optional.of(result.stdout()) : Optional.empty();
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    private static boolean hasRules(String save) {
        return save.lines().anyMatch(line -> line.startsWith("-A "));
    }

    private static Backend defaultBackend(NetfilterTools tools) throws CaptureException {
        try {
            CommandRunner.Result version = tools.run("iptables", List.of("--version"), "");
            return version.stdout().contains("legacy") ? Backend.LEGACY : Backend.NFT;
        } catch (IOException e) {
            throw new CaptureException("cannot run iptables --version: " + e.getMessage(), e);
        }
    }
}
