package io.istiovm.agent.config;

import java.nio.file.Path;

/** Where a configuration value came from; {@code check} prints it beside every value. */
public sealed interface Source {

    /** The label {@code check} shows: {@code default}, {@code cluster.env:3} or {@code environment}. */
    String label();

    /** The label used in messages, which names the file by its full path so the operator can open it. */
    String location();

    record Default() implements Source {
        @Override
        public String label() {
            return "default";
        }

        @Override
        public String location() {
            return "default";
        }
    }

    record Environment() implements Source {
        @Override
        public String label() {
            return "environment";
        }

        @Override
        public String location() {
            return "environment";
        }
    }

    /** A command-line flag such as {@code --config-dir}. */
    record Flag(String name) implements Source {
        @Override
        public String label() {
            return name;
        }

        @Override
        public String location() {
            return name;
        }
    }

    /** A line of a file; line 0 stands for the file as a whole. */
    record FileLine(Path file, int line) implements Source {
        @Override
        public String label() {
            return file.getFileName() + (line > 0 ? ":" + line : "");
        }

        @Override
        public String location() {
            return file + (line > 0 ? ":" + line : "");
        }
    }

    Source DEFAULT = new Default();
    Source ENVIRONMENT = new Environment();
}
