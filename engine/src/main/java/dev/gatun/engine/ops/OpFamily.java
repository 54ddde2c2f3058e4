package dev.gatun.engine.ops;

import java.util.List;

/**
 * A family of related operators (one file each: elementwise, shape, reduction, convolution, ...). The family
 * lists the ops it handles and plans a node of one of them: checks attributes and input types (refusing with
 * {@link NodeSpec#unsupported}), infers output types, and binds a {@link Kernel}. Planning happens once, when
 * a session is created; a run never discovers an unsupported case.
 */
public interface OpFamily {
    /** The ops of this family. */
    List<OpInfo> ops();

    /** Plans a node whose op type is one of {@link #ops()}. */
    Planned plan(NodeSpec node);
}
