/* export.h: SIO_EXPORT, the one mark of a name libsio exports.
 *
 * libsio is built with -fvisibility=hidden: a function or variable is part
 * of its ABI exactly when its declaration in include/sio carries
 * SIO_EXPORT. Plugin descriptors (SIO_PLUGIN) use it too, so a plugin
 * built with -fvisibility=hidden still exports sio_plugin_v1.
 */
#ifndef SIO_EXPORT_H
#define SIO_EXPORT_H

#define SIO_EXPORT __attribute__((visibility("default")))

#endif
