package io.istiovm.agent.testing;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Every secret the test fixtures make or see (private keys the test PKI generates, CSRs and chains the test CA
 * handles, bearer tokens it is given or sent), so that a test can prove none of it reached a log line. Values as
 * text: PEM, base64 or the token itself.
 */
public final class SecretMaterial {
    private static final List<String> SEEN = new CopyOnWriteArrayList<>();

    private SecretMaterial() {
    }

    public static void record(String value) {
        if (value != null && !value.isEmpty()) {
            SEEN.add(value);
        }
    }

    public static List<String> seen() {
        return List.copyOf(SEEN);
    }
}
