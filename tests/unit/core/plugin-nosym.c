/* plugin-nosym.c: a shared object without a sio_plugin_v1 (loader test). */
__attribute__((visibility("default"))) int not_a_plugin(void);
__attribute__((visibility("default"))) int not_a_plugin(void)
{
    return 42;
}
