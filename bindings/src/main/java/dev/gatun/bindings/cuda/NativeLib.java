package dev.gatun.bindings.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.nio.file.Path;
import java.util.Optional;

/**
 * One loaded CUDA library (or the reason it could not be loaded), and its downcall handles. A missing library or
 * symbol never fails here: the handle returned throws a {@link CudaException} naming it when called, so the
 * bindings' holder classes always initialise and an optional symbol fails only where it is used.
 */
final class NativeLib {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final MethodHandle FRESH;

    static {
        try {
            FRESH = MethodHandles.lookup().findStatic(NativeLib.class, "fresh",
                    MethodType.methodType(CudaException.class, CudaException.class));
        } catch (ReflectiveOperationException e) {
            throw new ExceptionInInitializerError(e);
        }
    }

    private final CudaLibraries.Library library;
    private final SymbolLookup lookup;
    private final Path path;
    private final CudaException loadError;

    private NativeLib(CudaLibraries.Library library, SymbolLookup lookup, Path path, CudaException loadError) {
        this.library = library;
        this.lookup = lookup;
        this.path = path;
        this.loadError = loadError;
    }

    static NativeLib load(CudaLibraries.Library library) {
        try {
            Path p = CudaLibraries.locate(library);
            for (CudaLibraries.Library dep : library.preload()) {
                CudaLibraries.preload(dep, p.getParent());
            }
            return new NativeLib(library, SymbolLookup.libraryLookup(p, Arena.global()), p, null);
        } catch (CudaException e) {
            return new NativeLib(library, null, null, e);
        } catch (IllegalArgumentException e) {
            return new NativeLib(library, null, null, new CudaException(CudaException.Kind.NO_LIBRARY,
                    library.description() + " could not be loaded: " + e.getMessage()));
        }
    }

    /** The file loaded, or null when it failed. */
    Path path() {
        return path;
    }

    /** The symbol's address, or {@link MemorySegment#NULL} when the library or symbol is missing. */
    MemorySegment find(String symbol) {
        return lookup == null ? MemorySegment.NULL : lookup.find(symbol).orElse(MemorySegment.NULL);
    }

    /** A downcall handle for {@code symbol}, or one that throws a {@link CudaException} naming what is missing. */
    MethodHandle downcall(String symbol, FunctionDescriptor desc) {
        if (lookup == null) {
            return thrower(desc, new CudaException(loadError.kind(), symbol + ": " + loadError.getMessage()));
        }
        Optional<MemorySegment> addr = lookup.find(symbol);
        if (addr.isEmpty()) {
            return thrower(desc, new CudaException(CudaException.Kind.NO_LIBRARY, symbol + " is not in " + path
                    + " (" + library.description() + "; an older CUDA version?)"));
        }
        return LINKER.downcallHandle(addr.get(), desc);
    }

    private static MethodHandle thrower(FunctionDescriptor desc, CudaException e) {
        MethodType t = desc.toMethodType();
        MethodHandle make = FRESH.bindTo(e);
        MethodHandle thr = MethodHandles.collectArguments(MethodHandles.throwException(t.returnType(), CudaException.class), 0, make);
        return MethodHandles.dropArguments(thr, 0, t.parameterList());
    }

    @SuppressWarnings("unused")
    private static CudaException fresh(CudaException proto) {
        return new CudaException(proto.kind(), proto.getMessage(), proto.status());
    }
}
