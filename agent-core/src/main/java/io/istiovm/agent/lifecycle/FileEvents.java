package io.istiovm.agent.lifecycle;

import java.io.IOException;
import java.nio.file.ClosedWatchServiceException;
import java.nio.file.FileSystem;
import java.nio.file.Path;
import java.nio.file.StandardWatchEventKinds;
import java.nio.file.WatchEvent;
import java.nio.file.WatchKey;
import java.nio.file.WatchService;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The agent's one inotify watch: components register directories and are told which paths changed, on one
 * dispatching thread, so that they can {@link Loop#wake()} their loop. A callback must be quick: it should only
 * note what changed and wake a loop. An overflow reports the directory itself.
 */
public final class FileEvents implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(FileEvents.class);

    private final FileSystem fileSystem;
    private final Map<WatchKey, List<Consumer<List<Path>>>> listeners = new ConcurrentHashMap<>();
    private WatchService service;
    private Thread dispatcher;
    private boolean closed;

    public FileEvents(FileSystem fileSystem) {
        this.fileSystem = fileSystem;
    }

    /** A registration; closing it stops the callbacks (the directory stays watched while others listen). */
    public interface Registration extends AutoCloseable {
        @Override
        void close();
    }

    /** Calls {@code onChange} with the changed paths of {@code directory} (absolute) from now on. */
    public Registration watch(Path directory, Consumer<List<Path>> onChange) throws IOException {
        WatchKey key;
        synchronized (this) {
            if (closed) {
                throw new IllegalStateException("file events are closed");
            }
            if (service == null) {
                service = fileSystem.newWatchService();
                dispatcher = new Thread(this::dispatch, "file-events");
                dispatcher.setDaemon(true);
                dispatcher.start();
            }
            key = directory.toAbsolutePath().register(service, StandardWatchEventKinds.ENTRY_CREATE,
                    StandardWatchEventKinds.ENTRY_DELETE, StandardWatchEventKinds.ENTRY_MODIFY);
            listeners.computeIfAbsent(key, k -> new CopyOnWriteArrayList<>()).add(onChange);
        }
        return () -> {
            List<Consumer<List<Path>>> all = listeners.get(key);
            if (all != null) {
                all.remove(onChange);
            }
        };
    }

    private void dispatch() {
        WatchService watching;
        synchronized (this) {
            watching = service;
        }
        try {
            while (true) {
                WatchKey key = watching.take();
                Path directory = ((Path) key.watchable()).toAbsolutePath();
                List<Path> changed = new ArrayList<>();
                for (WatchEvent<?> event : key.pollEvents()) {
                    changed.add(event.kind() == StandardWatchEventKinds.OVERFLOW || event.context() == null
                            ? directory : directory.resolve((Path) event.context()));
                }
                boolean valid = key.reset();
                for (Consumer<List<Path>> listener : listeners.getOrDefault(key, List.of())) {
                    try {
                        listener.accept(changed.isEmpty() ? List.of(directory) : List.copyOf(changed));
                    } catch (RuntimeException e) {
                        LOG.warn("{}: file event listener failed: {}", directory, e.toString());
                    }
                }
                if (!valid) {
                    // The directory went away; its watchers hear of it once and must register it again.
                    List<Consumer<List<Path>>> gone = listeners.remove(key);
                    if (gone != null) {
                        gone.forEach(listener -> listener.accept(List.of(directory)));
                    }
                }
            }
        } catch (InterruptedException | ClosedWatchServiceException e) {
            // closed
        }
    }

    /** True while {@code directory}'s registration is valid (false once the directory was removed). */
    public boolean watching(Path directory) {
        Path absolute = directory.toAbsolutePath();
        return listeners.keySet().stream().anyMatch(k -> k.isValid() && k.watchable().equals(absolute));
    }

    @Override
    public void close() throws IOException {
        WatchService watching;
        synchronized (this) {
            closed = true;
            watching = service;
        }
        if (watching != null) {
            watching.close();
        }
    }
}
