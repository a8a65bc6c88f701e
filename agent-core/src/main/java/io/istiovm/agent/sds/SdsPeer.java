package io.istiovm.agent.sds;

/** The credentials a connecting process had (SO_PEERCRED): who was refused, for status output and tests. */
public record SdsPeer(int uid, int gid, int pid) {
    @Override
    public String toString() {
        return "uid " + uid + " gid " + gid + " pid " + pid;
    }
}
