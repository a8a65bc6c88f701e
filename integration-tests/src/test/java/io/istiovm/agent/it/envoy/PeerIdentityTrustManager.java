package io.istiovm.agent.it.envoy;

import io.istiovm.agent.certs.IdentityValidator;
import java.io.ByteArrayInputStream;
import java.net.Socket;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Optional;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509ExtendedTrustManager;
import javax.net.ssl.X509TrustManager;

/**
 * The client side's check of an Istio upstream: the chain must lead to the mesh's trust anchors (SDS's
 * {@code ROOTCA}) and, when a SPIFFE id is expected, the leaf must carry it as a URI SAN, as Istio's outbound
 * cluster sets {@code match_typed_subject_alt_names} to the destination's service accounts (Istio 1.2x). No
 * host-name check: Istio's peers are named by SPIFFE id, not DNS.
 */
public final class PeerIdentityTrustManager extends X509ExtendedTrustManager {
    private final X509TrustManager roots;
    private final Optional<String> expected;

    private PeerIdentityTrustManager(X509TrustManager roots, Optional<String> expected) {
        this.roots = roots;
        this.expected = expected;
    }

    /** Trusts chains to the certificates of {@code rootsPem}; requires the leaf to be {@code expected} if given. */
    public static TrustManager of(byte[] rootsPem, Optional<String> expected) throws GeneralSecurityException,
            java.io.IOException {
        KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
        store.load(null, null);
        int index = 0;
        for (var cert : CertificateFactory.getInstance("X.509").generateCertificates(
                new ByteArrayInputStream(rootsPem))) {
            store.setCertificateEntry("root-" + index++, cert);
        }
        if (index == 0) {
            throw new CertificateException("no trust anchors");
        }
        TrustManagerFactory factory = TrustManagerFactory.getInstance("PKIX");
        factory.init(store);
        for (TrustManager manager : factory.getTrustManagers()) {
            if (manager instanceof X509TrustManager x509) {
                return new PeerIdentityTrustManager(x509, expected);
            }
        }
        throw new IllegalStateException("PKIX gave no X509TrustManager");
    }

    /** The certificate's {@code spiffe://} URI SANs, in order (the agent's own SAN reading). */
    public static List<String> spiffeIds(X509Certificate cert) {
        return IdentityValidator.uriSans(cert).stream().filter(uri -> uri.startsWith("spiffe://")).toList();
    }

    private void checkServer(X509Certificate[] chain, String authType) throws CertificateException {
        roots.checkServerTrusted(chain, authType);
        if (expected.isPresent() && !spiffeIds(chain[0]).contains(expected.get())) {
            throw new CertificateException("the upstream is " + spiffeIds(chain[0]) + ", not " + expected.get());
        }
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        checkServer(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        checkServer(chain, authType);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        checkServer(chain, authType);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        throw new CertificateException("a client-side trust manager");
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket)
            throws CertificateException {
        throw new CertificateException("a client-side trust manager");
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        throw new CertificateException("a client-side trust manager");
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return roots.getAcceptedIssuers();
    }
}
