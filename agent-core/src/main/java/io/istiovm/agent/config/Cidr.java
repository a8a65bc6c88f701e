package io.istiovm.agent.config;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.util.Objects;

/** An IPv4 or IPv6 network in prefix notation, normalised so that host bits are zero. */
public final class Cidr {
    private final InetAddress network;
    private final int prefixLength;

    private Cidr(InetAddress network, int prefixLength) {
        this.network = network;
        this.prefixLength = prefixLength;
    }

    /** Accepts {@code 10.0.0.0/8}, {@code fd00::/8}, or a bare address meaning a single host. */
    public static Cidr parse(String text) throws InvalidValueException {
        int slash = text.indexOf('/');
        String addressPart = slash < 0 ? text : text.substring(0, slash);
        InetAddress address = IpAddresses.parse(addressPart);
        int max = address instanceof Inet4Address ? 32 : 128;
        int prefix = max;
        if (slash >= 0) {
            String prefixText = text.substring(slash + 1);
            if (!prefixText.matches("[0-9]{1,3}")) {
                throw new InvalidValueException("'" + text + "': prefix length '" + prefixText + "' is not a number");
            }
            prefix = Integer.parseInt(prefixText);
            if (prefix > max) {
                throw new InvalidValueException("'" + text + "': prefix length " + prefix + " is out of range for "
                        + (max == 32 ? "IPv4 (0-32)" : "IPv6 (0-128)"));
            }
        }
        return new Cidr(mask(address, prefix), prefix);
    }

    private static InetAddress mask(InetAddress address, int prefix) {
        byte[] bytes = address.getAddress();
        for (int bit = prefix; bit < bytes.length * 8; bit++) {
            bytes[bit / 8] &= (byte) ~(0x80 >>> (bit % 8));
        }
        return IpAddresses.fromBytes(bytes);
    }

    public InetAddress network() {
        return network;
    }

    public int prefixLength() {
        return prefixLength;
    }

    public boolean isIpv6() {
        return !(network instanceof Inet4Address);
    }

    /** True when {@code address} lies inside this network (always false across address families). */
    public boolean contains(InetAddress address) {
        byte[] net = network.getAddress();
        byte[] candidate = address.getAddress();
        if (net.length != candidate.length) {
            return false;
        }
        return mask(address, prefixLength).equals(network);
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Cidr other && other.prefixLength == prefixLength && other.network.equals(network);
    }

    @Override
    public int hashCode() {
        return Objects.hash(network, prefixLength);
    }

    @Override
    public String toString() {
        return IpAddresses.format(network) + "/" + prefixLength;
    }
}
