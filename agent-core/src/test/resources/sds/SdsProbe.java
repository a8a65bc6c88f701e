import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.ByteBuffer;
import java.nio.channels.SelectionKey;
import java.nio.channels.Selector;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;

/**
 * A gRPC call to the SDS socket written with the JDK alone (run as a single source file, so that a process of
 * another user needs nothing but the JDK): HTTP/2 preface and settings, one request for one resource name to
 * FetchSecrets or StreamSecrets, then everything the server sends until it closes, ends the call, sends a
 * message, or 5 s pass. Prints one line: {@code received=<bytes> key=<whether a PRIVATE KEY came> eof=<closed>}.
 * Usage: java SdsProbe.java SOCKET FetchSecrets|StreamSecrets RESOURCE
 */
public class SdsProbe {
    public static void main(String[] args) throws Exception {
        SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            channel.connect(UnixDomainSocketAddress.of(args[0]));
        } catch (IOException e) {
            System.out.println("connect-failed " + e.getMessage());
            return;
        }
        boolean fetch = args[1].equals("FetchSecrets");
        ByteArrayOutputStream request = new ByteArrayOutputStream();
        request.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
        frame(request, 4, 0, 0, new byte[0]);
        ByteArrayOutputStream headers = new ByteArrayOutputStream();
        header(headers, ":method", "POST");
        header(headers, ":scheme", "http");
        header(headers, ":path", "/envoy.service.secret.v3.SecretDiscoveryService/" + args[1]);
        header(headers, ":authority", "localhost");
        header(headers, "content-type", "application/grpc");
        header(headers, "te", "trailers");
        frame(request, 1, 0x4, 1, headers.toByteArray());
        byte[] name = args[2].getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream message = new ByteArrayOutputStream();
        message.write(0x1a); // DiscoveryRequest.resource_names (3), length-delimited
        for (int length = name.length; ; length >>>= 7) { // the length as a protobuf varint
            if (length < 0x80) {
                message.write(length);
                break;
            }
            message.write((length & 0x7f) | 0x80);
        }
        message.write(name);
        byte[] body = message.toByteArray();
        ByteArrayOutputStream grpc = new ByteArrayOutputStream();
        grpc.write(0);
        grpc.write(ByteBuffer.allocate(4).putInt(body.length).array());
        grpc.write(body);
        frame(request, 0, fetch ? 0x1 : 0, 1, grpc.toByteArray());

        long received = 0;
        boolean eof = false;
        ByteArrayOutputStream data = new ByteArrayOutputStream();
        ByteArrayOutputStream pending = new ByteArrayOutputStream();
        try {
            channel.write(ByteBuffer.wrap(request.toByteArray()));
            channel.configureBlocking(false);
            Selector selector = Selector.open();
            channel.register(selector, SelectionKey.OP_READ);
            long deadline = System.nanoTime() + 5_000_000_000L;
            ByteBuffer buffer = ByteBuffer.allocate(65536);
            boolean done = false;
            while (!done && System.nanoTime() < deadline) {
                selector.select(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
                selector.selectedKeys().clear();
                buffer.clear();
                int n = channel.read(buffer);
                if (n < 0) {
                    eof = true;
                    break;
                }
                received += n;
                pending.write(buffer.array(), 0, n);
                byte[] bytes = pending.toByteArray();
                int at = 0;
                while (bytes.length - at >= 9) {
                    int length = ((bytes[at] & 0xff) << 16) | ((bytes[at + 1] & 0xff) << 8) | (bytes[at + 2] & 0xff);
                    if (bytes.length - at < 9 + length) {
                        break;
                    }
                    int type = bytes[at + 3];
                    int flags = bytes[at + 4];
                    if (type == 4 && (flags & 0x1) == 0) {
                        ByteArrayOutputStream ack = new ByteArrayOutputStream();
                        frame(ack, 4, 0x1, 0, new byte[0]);
                        channel.write(ByteBuffer.wrap(ack.toByteArray()));
                    } else if (type == 0) {
                        data.write(bytes, at + 9, length);
                        done |= !fetch;
                    } else if (type == 1 && (flags & 0x1) != 0) {
                        done = true;
                    } else if (type == 3 || type == 7) {
                        done = true;
                    }
                    at += 9 + length;
                }
                pending.reset();
                pending.write(bytes, at, bytes.length - at);
            }
        } catch (IOException e) {
            eof = true;
        }
        boolean key = new String(data.toByteArray(), StandardCharsets.ISO_8859_1).contains("PRIVATE KEY");
        System.out.println("received=" + received + " key=" + key + " eof=" + eof);
    }

    private static void frame(ByteArrayOutputStream out, int type, int flags, int stream, byte[] payload) {
        out.write(payload.length >>> 16);
        out.write(payload.length >>> 8);
        out.write(payload.length);
        out.write(type);
        out.write(flags);
        out.writeBytes(ByteBuffer.allocate(4).putInt(stream).array());
        out.writeBytes(payload);
    }

    /** HPACK literal header field without indexing, new name, no Huffman (all lengths below 127). */
    private static void header(ByteArrayOutputStream out, String name, String value) {
        out.write(0);
        out.write(name.length());
        out.writeBytes(name.getBytes(StandardCharsets.US_ASCII));
        out.write(value.length());
        out.writeBytes(value.getBytes(StandardCharsets.US_ASCII));
    }
}
