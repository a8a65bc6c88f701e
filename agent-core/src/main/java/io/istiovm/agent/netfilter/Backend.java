package io.istiovm.agent.netfilter;

import java.util.Locale;

/** The two iptables implementations; a host must use exactly one, or rules in the other are invisible. */
public enum Backend {
    NFT("nft"),
    LEGACY("legacy");

    private final String suffix;

    Backend(String suffix) {
        this.suffix = suffix;
    }

    public String suffix() {
        return suffix;
    }

    /** {@code iptables-nft-restore}, {@code ip6tables-legacy-save}, ... */
    public String program(IpFamily family, String action) {
        return family.toolPrefix() + "-" + suffix + (action.isEmpty() ? "" : "-" + action);
    }

    public Backend other() {
        return this == NFT ? LEGACY : NFT;
    }

    public static Backend parse(String text) {
        return valueOf(text.toUpperCase(Locale.ROOT));
    }
}
