package io.istiovm.agent.config;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.NetworkInterface;
import java.net.SocketException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/** Facts about the host that some defaults derive from (Istio took them from {@code hostname}). */
public interface HostFacts {

    /** The short host name, as {@code hostname -s} prints it. */
    Optional<String> shortHostName();

    /** Global unicast addresses of interfaces that are up, IPv4 first, as {@code hostname --all-ip-addresses}. */
    List<InetAddress> addresses();

    /** The host's users and groups (ENVOY_USER is resolved through them): /etc/passwd and /etc/group. */
    default Accounts accounts() {
        return Accounts.system();
    }

    /** These facts with other users and groups (a test's own lists; the real files are never edited). */
    default HostFacts withAccounts(Accounts accounts) {
        HostFacts facts = this;
        return new HostFacts() {
            @Override
            public Optional<String> shortHostName() {
                return facts.shortHostName();
            }

            @Override
            public List<InetAddress> addresses() {
                return facts.addresses();
            }

            @Override
            public Accounts accounts() {
                return accounts;
            }
        };
    }

    static HostFacts fixed(String shortHostName, List<InetAddress> addresses) {
        return new HostFacts() {
            @Override
            public Optional<String> shortHostName() {
                return Optional.ofNullable(shortHostName);
            }

            @Override
            public List<InetAddress> addresses() {
                return List.copyOf(addresses);
            }
        };
    }

    /** Reads the running system without any DNS lookup. */
    static HostFacts system() {
        return new HostFacts() {
            @Override
            public Optional<String> shortHostName() {
                try {
                    String name = Files.readString(Path.of("/proc/sys/kernel/hostname"), StandardCharsets.UTF_8)
                            .trim();
                    int dot = name.indexOf('.');
                    return Optional.of(dot > 0 ? name.substring(0, dot) : name).filter(s -> !s.isEmpty());
                } catch (IOException e) {
                    return Optional.empty();
                }
            }

            @Override
            public List<InetAddress> addresses() {
                List<InetAddress> result = new ArrayList<>();
                try {
                    for (NetworkInterface nic : Collections.list(NetworkInterface.getNetworkInterfaces())) {
                        if (!nic.isUp() || nic.isLoopback()) {
                            continue;
                        }
                        for (InetAddress address : Collections.list(nic.getInetAddresses())) {
                            if (!address.isLinkLocalAddress() && !address.isLoopbackAddress()
                                    && !address.isMulticastAddress()) {
                                result.add(address);
                            }
                        }
                    }
                } catch (SocketException e) {
                    return List.of();
                }
                result.sort(Comparator.comparing(a -> a instanceof Inet4Address ? 0 : 1));
                return result;
            }
        };
    }
}
